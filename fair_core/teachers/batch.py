"""Provider batch APIs (about 50% cheaper): the `BatchProvider` protocol and the job records it persists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from fair_core.teachers.base import ChatRequest, ChatResponse, load_provider_module

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

JobState = Literal["pending", "running", "completed", "failed", "expired", "cancelled"]
FINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass
class BatchJob:
    """A submitted batch: the provider's job id, what it holds, where it stands, and its persisted record.

    `custom_ids` are the requests' cache keys (`ChatRequest.key()`), in submission order; providers without
    per-line ids (Gemini inline batches) map results back by that order. `meta` keeps provider ids needed
    to fetch results (input/output file ids, the job resource name). The batch runner sets `job_key` (its
    id in the `batch_jobs` sidecar table) and `submitted_at`; a job is `consumed` once its results are in
    the cache (or sent to the online path).
    """

    job_id: str
    provider: str
    teacher: str
    custom_ids: tuple[str, ...]
    state: JobState = "pending"
    meta: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    job_key: str = ""
    submitted_at: float = 0.0
    finished_at: float | None = None
    consumed: bool = False

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    def row(self) -> dict[str, Any]:
        """The round store's `batch_jobs` row."""
        return {
            "teacher": self.teacher,
            "job_id": self.job_id,
            "provider": self.provider,
            "state": self.state,
            "n_requests": len(self.custom_ids),
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }


@runtime_checkable
class BatchProvider(Protocol):
    """A teacher endpoint with a batch API. Each call raises `ProviderError` on a classified failure.

    `submit` uploads the requests and creates one job; `poll` returns the job with its current state;
    `results` (only for a `completed` job) returns a reply for each custom id it has: rows missing from
    the mapping, or with status `error`, failed inside the batch and go to the online path.
    """

    async def submit(self, requests: Sequence[ChatRequest]) -> BatchJob: ...

    async def poll(self, job: BatchJob) -> BatchJob: ...

    async def results(self, job: BatchJob) -> Mapping[str, ChatResponse]: ...

    async def cancel(self, job: BatchJob) -> None: ...

    async def aclose(self) -> None: ...


def distinct_requests(requests: Sequence[ChatRequest], teacher: str) -> tuple[dict[str, ChatRequest], str]:
    """A batch's distinct requests by cache key (first kept, in order) and their one model; `ValueError`
    when there is none or the requests use several models."""
    unique = {request.key(): request for request in requests}
    if not unique:
        raise ValueError(f"teacher {teacher!r}: a batch needs at least one request")
    models = sorted({request.model for request in unique.values()})
    if len(models) > 1:
        raise ValueError(f"teacher {teacher!r}: one batch holds one model, got {', '.join(models)}")
    return unique, models[0]


#: provider name -> module defining `create_batch_provider(cfg, api_key) -> BatchProvider`.
BATCH_MODULES: dict[str, str] = {
    "openai": "fair_core.teachers.openai_batch",
    "gemini": "fair_core.teachers.gemini_batch",
    "mistral": "fair_core.teachers.mistral_batch",
}


def build_batch_provider(cfg: TeacherConfig, api_key: str) -> BatchProvider:
    """The batch API client for `cfg.provider` (teachers with `mode: batch`), imported only when asked for."""
    module = load_provider_module(
        BATCH_MODULES,
        cfg.provider,
        unknown=f"teacher {cfg.name!r}: provider {cfg.provider!r} has no batch API support",
        missing=f"teacher {cfg.name!r}: batch mode for {cfg.provider!r} is not implemented in this version",
    )
    return module.create_batch_provider(cfg, api_key)
