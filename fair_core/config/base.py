"""Shared pieces of the config sections: the strict base model, readable form titles, the config error.

Every section's JSON schema (what the Prefect UI renders as a deployment form) gets readable titles
("LoRA rank", "KV cache (GB)") and shows an optional field as a plain input (empty: the field's null
default) instead of a `str | None` type toggle.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.fields import ComputedFieldInfo, FieldInfo


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the file and the field."""


#: Field name -> its form title, where the generated one would read badly.
TITLES: dict[str, str] = {
    "lora_r": "LoRA rank",
    "lora_alpha": "LoRA alpha (scaling)",
    "lora_dropout": "LoRA dropout",
    "kv_cache_gb": "KV cache (GB)",
    "top_p": "Top-p",
    "rpm": "Requests per minute",
    "tpm": "Tokens per minute",
    "price_input_per_mtok": "Input price (USD per million tokens)",
    "price_output_per_mtok": "Output price (USD per million tokens)",
    "budget_usd": "Budget (USD)",
    "run_id": "Run id",
    "hub_id": "Hub dataset id",
    "dtype": "Weights dtype",
    "max_new_tokens": "Max new tokens",
    "grad_accum": "Gradient accumulation steps",
    "alpha": "Alpha (weight of the feedback task)",
    "wrong_rate": "Wrong-answer rate",
    "fail_teacher": "Fault drill: failing teacher",
    "fail_attempts": "Fault drill: failing attempts",
    "data_dir": "Data folder",
    "template_dir": "Template folder",
    "wrong_rates": "Wrong-answer rate per teacher",
    "num_processes": "Training processes",
    "env": "vLLM environment",
    "vllm": "vLLM (advanced)",
    "simulator": "Simulator (offline demo, fault drills)",
}

#: Words written otherwise in a title: acronyms, product names and units.
WORDS: dict[str, str] = {
    "api": "API",
    "cpu": "CPU",
    "gpu": "GPU",
    "id": "id",
    "ids": "ids",
    "kv": "KV",
    "llm": "LLM",
    "lora": "LoRA",
    "lr": "LR",
    "mlflow": "MLflow",
    "url": "URL",
    "vllm": "vLLM",
    "json": "JSON",
    "html": "HTML",
    "hf": "HF",
    "fsdp": "FSDP",
    "ddp": "DDP",
}

#: Unit suffixes, shown in brackets at the end of the title.
UNITS: dict[str, str] = {"gb": "GB", "usd": "USD", "s": "s", "ms": "ms", "mtok": "per million tokens"}


def field_title(name: str, info: FieldInfo | ComputedFieldInfo | None = None) -> str:
    """A form title for field `name`: an explicit one (`TITLES`), else its words with acronyms and
    units written as people write them: `gpu_memory_utilization` -> "GPU memory utilization",
    `timeout_s` -> "Timeout (s)"."""
    if name in TITLES:
        return TITLES[name]
    words = [w for w in name.split("_") if w]
    unit = UNITS.get(words[-1]) if len(words) > 1 else None
    if unit:
        words = words[:-1]
    text = [WORDS.get(w, w) for w in words]
    if text and text[0] == words[0]:
        text[0] = text[0][:1].upper() + text[0][1:]
    title = " ".join(text)
    return f"{title} ({unit})" if unit else title


#: Section class name -> its form title, where the generated one would read badly.
MODEL_TITLES = {"FairConfig": "FAIR configuration", "CustomDatasetConfig": "Custom dataset"}


def model_title(cls: type[Any]) -> str:
    """A section's title: `VllmConfig` -> "vLLM", `TeacherConfig` -> "Teacher", `RunSettings` -> "Run"."""
    name = cls.__name__
    if name in MODEL_TITLES:
        return MODEL_TITLES[name]
    for suffix in ("Config", "Settings"):
        name = name.removesuffix(suffix) or name
    words = re.findall(r"[A-Z][a-z]*|[a-z]+|[0-9]+", name)
    text = " ".join(WORDS.get(w.lower(), w.lower()) for w in words)
    return text[:1].upper() + text[1:] if text[:1].islower() and words[0].lower() not in WORDS else text


def _plain_optional(prop: dict[str, Any]) -> None:
    """`anyOf: [X, null]` -> X, without its null default: the Prefect form shows a plain input (empty
    means the null default) instead of a type toggle. Prefect's validator accepts null again for a
    property without a default (`prefect.utilities.schema_tools.validation._fix_null_typing`)."""
    options = prop.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return
    (other,) = [o for o in options if o != {"type": "null"}]
    if "type" not in other:
        return  # a section ($ref): keep the union (the validator would not re-add null)
    del prop["anyOf"]
    if other == {"type": "boolean"} and "examples" in prop:
        other = {"type": "string"}  # a checkbox cannot be left empty: a text input of the field's words
    prop.update(other)
    prop.pop("default", None)


def plain_optionals(schema: dict[str, Any], cls: type[Any] | None = None) -> None:
    """`json_schema_extra` of every section: optional scalar fields as plain inputs (`_plain_optional`)."""
    for prop in (schema.get("properties") or {}).values():
        _plain_optional(prop)


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        field_title_generator=field_title,
        model_title_generator=model_title,
        json_schema_extra=plain_optionals,
    )
