"""Prefect cache keys over input *content*: table hashes, config sections (fair_core.identity), models.

A cached result is only a reference to the tables a task wrote, so the key also checks them: `OUTPUTS`
says what each task writes, and when one of those is lost or changed since it was written (checked
against the round manifest's rows and sha256, or the trained student's files), the key is a fresh one and
the task runs again, rewriting it. Teacher tasks re-run for free: their replies come from the reply cache.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fair_core.config import Section, section_path
from fair_core.hashing import stable_hash
from fair_core.identity import result_view
from fair_core.refs import RoundRef
from fair_core.runs import TRAINED_MODEL
from fair_core.shards import shard_part
from fair_core.store import StoreError
from fair_core.store.integrity import FINE_TUNE, model_problem, table_problem
from tasks.logs import task_logger

#: Bump when a task's output format changes, so old cached results are not reused.
CACHE_VERSION = "1"

#: Task parameters that never change a result (how to run it), left out of cache keys.
_VOLATILE_PARAMETERS = {"refresh", "budget_usd", "cache_url"}


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


@dataclasses.dataclass(frozen=True)
class Output:
    """What a task writes: a table (or one part of it) of a round, or `MODEL`, the student it trains."""

    where: RoundRef
    table: str
    part: str | None = None


#: The `table` of an Output that is the round's trained student (recorded by its fine-tune stage).
MODEL = str(TRAINED_MODEL)


def _part(prefix: str | None, parameters: dict[str, Any]) -> str | None:
    return shard_part(prefix, int(parameters.get("shard", 0)), int(parameters.get("shards", 1)))


#: Task name -> the outputs a call writes, from its parameters (the part names follow the tasks').
OUTPUTS: dict[str, Callable[[dict[str, Any]], list[Output]]] = {
    "prepare-examples": lambda p: [Output(p["where"], p["table"])],
    "student-answers": lambda p: [Output(p["where"], p["table"], _part(None, p))],
    "concat-answers": lambda p: [Output(p["where"], p["table"])],
    "seed-answers": lambda p: [Output(p["where"], p["table"], f"seed-{p['params'].seed}")],
    "collect-mistakes": lambda p: [Output(p["where"], "mistakes")],
    "teacher-batch": lambda p: [
        Output(p["where"], "teacher_calls", _part(f"{p['role']}-{p['teacher'].name}", p))
    ],
    "review-batch": lambda p: [Output(p["where"], "teacher_calls", _part(f"review-{p['reviewer'].name}", p))],
    "assemble-committee": lambda p: [Output(p["where"], t) for t in ("feedback", "rationales")],
    "select-rationales": lambda p: [Output(p["where"], t) for t in ("reviews", "acceptance")],
    "build-training-set": lambda p: [Output(p["where"], "training_samples")],
    "fine-tune": lambda p: [Output(p["where"], MODEL)],
    "adopt-shared-tables": lambda p: [Output(p["where"], r.name, r.part) for r in p["source"]],
}


def output_problem(output: Output) -> str | None:
    """Why an output the manifest records is not as written (missing, truncated, changed); None if fine."""
    store = output.where.store()
    if output.table == MODEL:
        return model_problem(store)
    return table_problem(store, output.table, output.part)


def output_absent(output: Output) -> bool:
    """The output is not on disk at all (and, for the student, no record says the round trained none)."""
    store = output.where.store()
    if output.table == MODEL:
        record = store.manifest().get("stages", {}).get(FINE_TUNE) or {}
        return record.get("trained") is not False and not (store.path / TRAINED_MODEL).is_dir()
    return not store.exists(output.table, output.part)


def _has_result(context: Any, key: str) -> bool:
    """Whether Prefect holds a cached result under `key` (which would point at the lost output)."""
    try:
        return bool(context.result_store.exists(key))
    except Exception:
        return False


def lost_output(context: Any, parameters: dict[str, Any], key: str) -> str | None:
    """Why the task's cached result (if any) must not be reused: one of its outputs is lost or damaged.
    An output the manifest does not record and that is absent counts only when a result is cached."""
    declared = OUTPUTS.get(context.task.name)
    try:
        outputs = declared(parameters) if declared else []
    except (KeyError, AttributeError, TypeError, ValueError):  # a call outside a round (tests, tools)
        return None
    for output in (o for o in outputs if isinstance(o.where, RoundRef)):
        problem = output_problem(output)
        if problem:
            return problem
        if output_absent(output) and _has_result(context, key):
            what = output.table if output.part is None else f"{output.table}/{output.part}"
            return f"{what} of run {output.where.run_id} round {output.where.round} is missing"
    return None


def content_cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """`cache_key_fn` for every FAIR task: task name + the fingerprints of its parameters; a fresh key
    when an output is lost (the task runs again), None when an input is (the task reads it and stops with
    the StoreError that names it and says how to rebuild it)."""
    name = context.task.name
    kept = {k: v for k, v in parameters.items() if k not in _VOLATILE_PARAMETERS}
    try:
        key = f"{name}-{stable_hash([CACHE_VERSION, name, fingerprint(kept)])[:32]}"
    except StoreError as err:
        task_logger().warning("%s: an input cannot be used: %s", name, err)
        return None
    lost = lost_output(context, parameters, key)
    if lost:
        task_logger().warning("%s: %s; the stage runs again to rebuild it", name, lost)
        return f"{key}-rebuild-{uuid.uuid4().hex[:12]}"
    return key
