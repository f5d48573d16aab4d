"""The identity policy: the config fields that cannot change a result, and the views derived from it."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from fair_core.hashing import stable_hash

#: Config fields (dotted paths over `FairConfig`; `*` is any item of a list) that cannot change a result:
#: where things run, how fast, how patiently, what they cost. Every other field is part of the identity:
#: the run id (`config_hash`) and the Prefect cache key of every task reading its section.
VOLATILE: Mapping[str, str] = {
    # --- run ---------------------------------------------------------------------------------------------
    "run.data_dir": "where runs and caches are kept, not what they hold",
    "run.budget_usd": "a raised budget continues the same run",
    "run.teacher_task_retries": "how hard to try, not what is asked",
    "run.teacher_task_retry_delay_s": "how patiently to retry",
    "run.teacher_task_size": "how requests are split into Prefect tasks; the same requests are sent",
    # --- student: memory, speed and placement of inference ------------------------------------------------
    "student.batch_size": "rows per generation batch: memory and speed",
    "student.token_budget": "tokens per generation batch: memory and speed",
    "student.shards": "how a table is split into tasks; the parts are concatenated in order",
    "student.vllm.env": "where the vLLM environment is installed",
    "student.vllm.tensor_parallel_size": "how many GPUs hold the model",
    "student.vllm.kv_cache_gb": "KV-cache memory",
    "student.vllm.gpu_memory_utilization": "GPU memory share",
    "student.vllm.enforce_eager": "CUDA graphs or not: start-up and decoding speed",
    "student.vllm.base_url": "where a `vllm serve` runs (like teachers' base_url)",
    "student.vllm.api_key_env": "where the server's key is kept",
    # --- teachers: endpoint, key, limits, accounting --------------------------------------------------------
    "teachers.*.base_url": "where the provider is reached; the same model answers",
    "teachers.*.api_key_env": "where the key is kept",
    "teachers.*.api_key_secret": "where the key is kept",
    "teachers.*.max_concurrency": "requests in flight: speed",
    "teachers.*.shared_concurrency": "requests in flight across workers: speed",
    "teachers.*.timeout_s": "how patiently to wait for a reply",
    "teachers.*.max_retries": "how hard to try",
    "teachers.*.rpm": "rate limit: speed",
    "teachers.*.tpm": "rate limit: speed",
    "teachers.*.mode": "online or batch API: the same requests, a different price and delay",
    "teachers.*.batch_poll_s": "how often a batch job is polled",
    "teachers.*.batch_timeout_s": "how long a batch job is waited for (the rest goes online)",
    "teachers.*.price_input_per_mtok": "cost accounting only",
    "teachers.*.price_output_per_mtok": "cost accounting only",
    "teachers.*.note": "free text",
    # --- training: checkpoints and memory -----------------------------------------------------------------
    "training.save_steps": "how often a checkpoint is saved for resume; the steps are the same",
    "training.gradient_checkpointing": "activations recomputed (RNG kept): memory vs time, same gradients",
    "training.report_to": "where training metrics are sent, not what is trained",
    # --- simulator ----------------------------------------------------------------------------------------
    "simulator.latency_ms": "how slowly the simulator replies",
    # --- cache --------------------------------------------------------------------------------------------
    "cache.url": "where teacher replies are kept (SQLite file or PostgreSQL), not what they are",
    "stages.deployments": "which work pool runs a stage, not what it computes",
    "stages.retries": "how often a crashed stage flow run is started again, not what it computes",
}

#: Fields left out of a view while empty, so identities made before the field existed stay the same.
OMIT_WHEN_EMPTY: Mapping[str, str] = {
    "teachers.*.safety_settings": "Gemini only; request keys carry it only when set",
    "simulator.wrong_rates": "per-teacher simulator error rates; identities made before them stay the same",
    "teachers.*.replay_source": "provider replay only",
    "teachers.*.replay_teacher": "provider replay only",
    "teachers.*.replay_round": "provider replay only",
    "review.reviewers_per_rationale": "unset = every other teacher reviews, as before the field existed",
    "review.show_author": "off = authors hidden, as before the field existed",
}

#: Sections whose every field is volatile, added after identities existed: left out of every view.
OMIT_SECTIONS = frozenset({"cache", "stages"})

#: Fields left out of a view while at the value given here (the behaviour before the field existed).
OMIT_AT_VALUE: Mapping[str, Any] = {
    "review.aggregation": "mean",
}

#: Where teachers sit in `FairConfig`, and their fields that label a teacher without changing its replies
#: (part of the run's identity, not of a reply's: two teachers of the same identity share cached replies).
TEACHERS_PATH = "teachers.*"
REPLY_LABELS = frozenset({"name"})


def is_volatile(path: str) -> bool:
    """Whether the field at dotted `path` (list items as `*`) cannot change a result."""
    return path in VOLATILE


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _prune(model: BaseModel, data: dict[str, Any], path: str) -> dict[str, Any]:
    """`data` (the JSON dump of `model` at `path`) without its volatile fields, at every depth."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        here = _join(path, name)
        if (
            here in VOLATILE
            or (here in OMIT_WHEN_EMPTY and not data[name])
            or (here in OMIT_AT_VALUE and data[name] == OMIT_AT_VALUE[here])
        ):
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            if here in OMIT_SECTIONS:
                continue
            out[name] = _prune(value, data[name], here)
        elif isinstance(value, list | tuple) and value and all(isinstance(v, BaseModel) for v in value):
            out[name] = [_prune(v, d, _join(here, "*")) for v, d in zip(value, data[name], strict=True)]
        else:
            out[name] = data[name]
    return out


def result_view(model: BaseModel, path: str = "") -> dict[str, Any]:
    """What of `model` (the whole config, or the section found at `path`) can change a result, as JSON."""
    return _prune(model, model.model_dump(mode="json"), path)


def result_hash(model: BaseModel, path: str = "") -> str:
    """sha256 of `result_view`: the whole config's is its `config_hash` (the run id's suffix)."""
    return stable_hash(result_view(model, path))


#: A replayed teacher's recording (`provider: replay`): in a request it is the `origin` (never sent).
REPLAY_FIELDS = ("replay_source", "replay_teacher", "replay_round")


def teacher_identity(teacher: BaseModel) -> dict[str, Any]:
    """What makes two teachers' replies interchangeable: provider, model, sampling, safety settings if set;
    for a replayed teacher, `origin`: "replay:" and a hash of its recording (source, recorded teacher,
    round), so its replies are never keyed as a real teacher's nor as another recording's."""
    view = {k: v for k, v in result_view(teacher, TEACHERS_PATH).items() if k not in REPLY_LABELS}
    replay = {k: view.pop(k) for k in REPLAY_FIELDS if k in view}
    if replay:
        replay["replay_teacher"] = replay.get("replay_teacher") or getattr(teacher, "name", None)
        view["origin"] = f"replay:{stable_hash(replay)[:16]}"
    return view


#: Simulator fields that say whether and how it is served, not what it answers (out of `reply_origin`).
SIMULATOR_SERVING = frozenset({"enabled"})


def reply_origin(config: BaseModel) -> str:
    """Who answers the teachers of `config` when it is not their providers: "" for real teachers; for the
    offline simulator, "simulator:" and a hash of the settings that shape its replies (error rates, fault
    drill; not `latency_ms`, which is volatile). Part of every request key, so simulated replies are never
    reused by real teachers nor by a simulator set up differently."""
    sim = getattr(config, "simulator", None)
    if sim is None or not sim.enabled:
        return ""
    view = {k: v for k, v in result_view(sim, "simulator").items() if k not in SIMULATOR_SERVING}
    return f"simulator:{stable_hash(view)[:16]}"


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class in a field annotation (`X`, `X | None`, `list[X]`) and whether it is a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) and args:
        inner, _ = _model_of(args[0])
        return inner, inner is not None
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            inner, many = _model_of(arg)
            if inner is not None:
                return inner, many
    return None, False


def section_paths(root: type[BaseModel]) -> dict[type[BaseModel], str]:
    """Every model class under `root` -> its dotted path (`root` itself -> ""); a list of models -> `.*`."""
    found: dict[type[BaseModel], str] = {root: ""}
    for cls, path in _sub_paths(root, ""):
        if found.setdefault(cls, path) != path:
            raise ValueError(f"{cls.__name__} is at two paths, {found[cls]!r} and {path!r}")
    return found


def _sub_paths(cls: type[BaseModel], path: str) -> Iterator[tuple[type[BaseModel], str]]:
    for name, field in cls.model_fields.items():
        inner, many = _model_of(field.annotation)
        if inner is None:
            continue
        here = _join(_join(path, name), "*") if many else _join(path, name)
        yield inner, here
        yield from _sub_paths(inner, here)


def leaf_paths(root: type[BaseModel], path: str = "") -> Iterator[str]:
    """Dotted paths of every field of `root` that is not itself a model (list items as `*`)."""
    for name, field in root.model_fields.items():
        inner, many = _model_of(field.annotation)
        here = _join(path, name)
        if inner is None:
            yield here
        else:
            yield from leaf_paths(inner, _join(here, "*") if many else here)
