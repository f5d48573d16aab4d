"""Provider batch APIs (about 50% cheaper): the `BatchProvider` protocol and the job records it persists."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderSetupError

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

JobState = Literal["pending", "running", "completed", "failed", "expired", "cancelled"]
FINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class BatchJob:
    """A submitted batch: the provider's job id, what it holds, and where it stands.

    `custom_ids` are the requests' cache keys (`ChatRequest.key()`), in submission order; providers without
    per-line ids (Gemini inline batches) map results back by that order. `meta` keeps provider ids needed
    to fetch results (input/output file ids, the job resource name).
    """

    job_id: str
    provider: str
    teacher: str
    custom_ids: tuple[str, ...]
    state: JobState = "pending"
    meta: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES


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


#: provider name -> module defining `create_batch_provider(cfg, api_key) -> BatchProvider`.
BATCH_MODULES: dict[str, str] = {
    "openai": "fair_core.teachers.openai_batch",
    "gemini": "fair_core.teachers.gemini_batch",
    "mistral": "fair_core.teachers.mistral_batch",
}


def build_batch_provider(cfg: TeacherConfig, api_key: str) -> BatchProvider:
    """The batch API client for `cfg.provider` (teachers with `mode: batch`), imported only when asked for."""
    module_name = BATCH_MODULES.get(cfg.provider)
    if module_name is None:
        raise ProviderSetupError(f"teacher {cfg.name!r}: provider {cfg.provider!r} has no batch API support")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise ProviderSetupError(
            f"teacher {cfg.name!r}: batch mode for {cfg.provider!r} is not implemented in this version"
        ) from None
    return module.create_batch_provider(cfg, api_key)
