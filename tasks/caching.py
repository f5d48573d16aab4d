"""Prefect cache keys over input *content*: table hashes, config sections (fair_core.identity), models."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fair_core.config import Section, section_path
from fair_core.hashing import stable_hash
from fair_core.identity import result_view

#: Bump when a task's output format changes, so old cached results are not reused.
CACHE_VERSION = "1"

#: Task parameters that never change a result (how to run it), left out of cache keys.
_VOLATILE_PARAMETERS = {"refresh", "budget_usd"}


def fingerprint(value: Any) -> Any:
    """A JSON-able stand-in for a task input that changes exactly when the input's content does."""
    if hasattr(value, "fingerprint") and callable(value.fingerprint):
        return value.fingerprint()
    if isinstance(value, Section):
        return result_view(value, section_path(type(value)))  # the identity policy: fair_core.identity
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fingerprint(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def content_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """`cache_key_fn` for every FAIR task: task name + the fingerprints of its parameters."""
    name = context.task.name
    kept = {k: v for k, v in parameters.items() if k not in _VOLATILE_PARAMETERS}
    return f"{name}-{stable_hash([CACHE_VERSION, name, fingerprint(kept)])[:32]}"
