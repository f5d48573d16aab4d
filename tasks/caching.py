"""Prefect cache keys over input *content*: table hashes, config sections, model fingerprints."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fair_core.config import TeacherConfig
from fair_core.hashing import stable_hash

#: Bump when a task's output format changes, so old cached results are not reused.
CACHE_VERSION = "1"

#: Config fields that never change a result (where things run, how fast), left out of cache keys.
_VOLATILE = {
    "base_url",
    "data_dir",
    "batch_size",
    "max_concurrency",
    "timeout_s",
    "max_retries",
    "note",
    "rpm",
    "tpm",
    "mode",
    "batch_poll_s",
    "batch_timeout_s",
    "budget_usd",
    "teacher_task_retries",
    "teacher_task_retry_delay_s",
}
#: Task parameters that never change a result (how to run it), left out of cache keys.
_VOLATILE_PARAMETERS = {"refresh", "budget_usd"}


def fingerprint(value: Any) -> Any:
    """A JSON-able stand-in for a task input that changes exactly when the input's content does."""
    if hasattr(value, "fingerprint") and callable(value.fingerprint):
        return value.fingerprint()
    if isinstance(value, TeacherConfig):
        return value.identity() | {"name": value.name}
    if isinstance(value, BaseModel):
        return _drop_volatile(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fingerprint(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _drop_volatile(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _drop_volatile(v) for k, v in data.items() if k not in _VOLATILE}
    if isinstance(data, list):
        return [_drop_volatile(v) for v in data]
    return data


def content_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """`cache_key_fn` for every FAIR task: task name + the fingerprints of its parameters."""
    name = context.task.name
    kept = {k: v for k, v in parameters.items() if k not in _VOLATILE_PARAMETERS}
    return f"{name}-{stable_hash([CACHE_VERSION, name, fingerprint(kept)])[:32]}"
