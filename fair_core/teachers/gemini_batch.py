"""Gemini Batch API teacher provider (inlined requests, about 50% cheaper) via google-genai `aio.batches`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fair_core.teachers.base import ChatRequest, ChatResponse, ErrorKind, ProviderError
from fair_core.teachers.batch import BatchJob, JobState, distinct_requests
from fair_core.teachers.gemini_provider import (
    GeminiEndpoint,
    generate_config,
    to_chat_response,
    to_contents,
)

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

logger = logging.getLogger(__name__)

#: google-genai job state -> JobState; CANCELLING is still running (it ends CANCELLED).
STATES: dict[str, JobState] = {
    "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_PAUSED": "running",
    "JOB_STATE_UPDATING": "running",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "expired",
    "JOB_STATE_CANCELLED": "cancelled",
}
#: google.rpc.Code of a failed line -> how the online path treats it.
LINE_KINDS: dict[int, ErrorKind] = {3: "invalid", 5: "fatal", 7: "fatal", 9: "fatal", 16: "fatal"}
#: The Gemini API takes inlined batches up to 20 MB; larger ones must be split (or sent as a file).
MAX_INLINE_BYTES = 19_000_000
#: Request metadata key carrying the request's cache key (the custom id); results come back with it.
KEY_FIELD = "key"


class GeminiBatchProvider(GeminiEndpoint):
    """A teacher's requests as one Gemini batch job of inlined requests, each tagged with its cache key.

    Each line carries `metadata: {"key": <ChatRequest.key()>}`, which the API returns with its response;
    lines without it are matched by position (the API keeps request order). Lines that failed come back
    with status `error` (meta: kind, code) for the online path; a safety block is a `refused` reply.
    """

    default_teacher = "gemini"

    def __repr__(self) -> str:  # never show the key
        return f"GeminiBatchProvider(teacher={self.teacher!r}, base_url={self.base_url!r})"

    async def _call(self, send: Any) -> Any:
        try:
            return await send(self._clients.for_loop().aio.batches)
        except Exception as err:
            raise self._clients.classify(err) from None

    def _inlined(self, key: str, request: ChatRequest) -> Any:
        types = self._clients.types
        system, contents = to_contents(request.messages, types)
        config = generate_config(request, system, self.safety, types)
        config.automatic_function_calling = None  # not a field of a batch line
        return types.InlinedRequest(contents=contents, config=config, metadata={KEY_FIELD: key})

    async def submit(self, requests: Sequence[ChatRequest]) -> BatchJob:
        """Create one batch job holding every distinct request (custom ids in submission order)."""
        unique, model = distinct_requests(requests, self.teacher)
        size = sum(len(m.content.encode()) + 64 for r in unique.values() for m in r.messages)
        if size > MAX_INLINE_BYTES:  # a ProviderError: the batch runner sends these requests online instead
            raise ProviderError(
                "invalid",
                f"teacher {self.teacher!r}: {len(unique)} requests are about {size / 1e6:.1f} MB, over the "
                f"{MAX_INLINE_BYTES / 1e6:.0f} MB an inlined Gemini batch takes: submit fewer at once",
            )
        lines = [self._inlined(key, request) for key, request in unique.items()]
        config = self._clients.types.CreateBatchJobConfig(display_name=f"fair-{self.teacher}"[:128])
        created = await self._call(lambda batches: batches.create(model=model, src=lines, config=config))
        name = str(created.name)
        logger.info("teacher %r: Gemini batch %s submitted (%d lines)", self.teacher, name, len(lines))
        base = BatchJob(
            job_id=name,
            provider="gemini",
            teacher=self.teacher,
            custom_ids=tuple(unique),
            meta={"model": model},
        )
        return self._update(base, created)

    async def poll(self, job: BatchJob) -> BatchJob:
        return self._update(job, await self._call(lambda batches: batches.get(name=job.job_id)))

    def _update(self, job: BatchJob, remote: Any) -> BatchJob:
        raw = getattr(remote, "state", None)
        status = str(getattr(raw, "value", raw) or "JOB_STATE_UNSPECIFIED")
        state = STATES.get(status, "running")  # an unknown new state: keep polling until the timeout
        error = None
        if state in ("failed", "expired", "cancelled"):
            reason = getattr(getattr(remote, "error", None), "message", None)
            error = self._clients.clean(
                f"Gemini batch {job.job_id} of teacher {self.teacher!r} ended {status}"
                + (f": {reason}" if reason else "")
            )
        return dataclasses.replace(job, state=state, meta={**job.meta, "status": status}, error=error)

    async def results(self, job: BatchJob) -> dict[str, ChatResponse]:
        """A reply per custom id in the job's inlined responses (none for a failed or expired job)."""
        remote = await self._call(lambda batches: batches.get(name=job.job_id))
        job = self._update(job, remote)
        if not job.done:
            raise ValueError(f"batch {job.job_id} of teacher {self.teacher!r} is still {job.state}")
        dest = getattr(remote, "dest", None)
        if getattr(dest, "file_name", None):
            raise ProviderError("invalid", f"batch {job.job_id}: results in a file are not supported")
        wanted = set(job.custom_ids)
        found: dict[str, ChatResponse] = {}
        for index, line in enumerate(getattr(dest, "inlined_responses", None) or []):
            metadata = getattr(line, "metadata", None) or {}
            key = metadata.get(KEY_FIELD) or (job.custom_ids[index] if index < len(job.custom_ids) else None)
            if key in wanted:
                found[key] = self._line(line)
        return found

    def _line(self, line: Any) -> ChatResponse:
        error, response = getattr(line, "error", None), getattr(line, "response", None)
        if error is not None:
            code = getattr(error, "code", None)
            kind = LINE_KINDS.get(code, "retryable") if isinstance(code, int) else "retryable"
            message = self._clients.clean(f"batch line failed (code {code}): {getattr(error, 'message', '')}")
            return ChatResponse(text=None, status="error", error=message, meta={"kind": kind, "code": code})
        if response is None:
            return ChatResponse.failure("error", "batch line without a response or an error")
        try:
            return to_chat_response(response, 0.0, self._clients.clean)
        except ProviderError as err:
            return ChatResponse(text=None, status="error", error=f"batch line: {err.message}")

    async def cancel(self, job: BatchJob) -> None:
        await self._call(lambda batches: batches.cancel(name=job.job_id))


def create_batch_provider(cfg: TeacherConfig, api_key: str) -> GeminiBatchProvider:
    return GeminiBatchProvider(
        api_key, base_url=cfg.base_url, timeout_s=cfg.timeout_s, safety=cfg.safety_settings, teacher=cfg.name
    )
