"""Open the configured student backend for a model reference (transformers now; vLLM per config)."""

from __future__ import annotations

from fair_core.config import StudentConfig
from fair_core.refs import ModelRef
from fair_core.students.base import StudentBackend


class BackendUnavailableError(RuntimeError):
    """The configured backend cannot run here; the message says what to install or set."""


def open_student(cfg: StudentConfig, model: ModelRef) -> StudentBackend:
    """A loaded student: `backend: auto` picks transformers until a vLLM environment is configured."""
    if cfg.backend == "vllm":
        raise BackendUnavailableError(
            "student.backend 'vllm' needs the separate vLLM environment, which this version does not set up: "
            "use backend 'transformers' or 'auto'."
        )
    from fair_core.students.transformers_backend import TransformersStudent

    return TransformersStudent(
        model.base,
        adapter_path=model.adapter,
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        chat_template=cfg.chat_template,
        system_prompt=cfg.system_prompt,
    )
