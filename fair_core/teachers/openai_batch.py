"""OpenAI Batch API teacher provider (a JSONL file + a batch job, about 50% cheaper) via AsyncOpenAI."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, require_sdk
from fair_core.teachers.batch import BatchJob, JobState, distinct_requests
from fair_core.teachers.openai_provider import OpenAIProvider, chat_body, error_kind

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

logger = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
#: OpenAI batch status -> JobState; `cancelling` is still running (it ends `cancelled`).
STATES: dict[str, JobState] = {
    "validating": "pending",
    "in_progress": "running",
    "finalizing": "running",
    "cancelling": "running",
    "completed": "completed",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}


class OpenAIBatchProvider:
    """A teacher's requests as one OpenAI batch: custom_id = the request's cache key, body = the online body.

    Calls go through an `OpenAIProvider` (one SDK client per event loop, SDK retries off, the same error
    classification and key redaction); `results` also reads the partial output of an expired or cancelled
    job. Lines that failed come back with status `error` (meta: status_code, kind) for the online path.
    """

    def __init__(
        self, api_key: str, base_url: str | None = None, timeout_s: float = 120.0, teacher: str = "openai"
    ) -> None:
        self.online = OpenAIProvider(api_key, base_url=base_url, timeout_s=timeout_s)
        self._chat_types = require_sdk("openai.types.chat", "openai", None)
        self.teacher = teacher

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBatchProvider(teacher={self.teacher!r}, base_url={self.online.base_url!r})"

    async def submit(self, requests: Sequence[ChatRequest]) -> BatchJob:
        """Upload one JSONL line per distinct request and create the batch job."""
        unique, _ = distinct_requests(requests, self.teacher)
        lines = [
            json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": chat_body(request)})
            for key, request in unique.items()
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        upload = (f"fair-{self.teacher}.jsonl", data, "application/jsonl")
        uploaded = await self.online.call(lambda client: client.files.create(file=upload, purpose="batch"))
        metadata = {"fair_teacher": self.teacher[:500], "requests": str(len(lines))}
        batch = await self.online.call(
            lambda client: client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata=metadata,
            )
        )
        logger.info("teacher %r: batch %s submitted (%d requests)", self.teacher, batch.id, len(lines))
        base = BatchJob(job_id=batch.id, provider="openai", teacher=self.teacher, custom_ids=tuple(unique))
        return self._update(base, batch)

    async def poll(self, job: BatchJob) -> BatchJob:
        batch = await self.online.call(lambda client: client.batches.retrieve(job.job_id))
        return self._update(job, batch)

    def _update(self, job: BatchJob, batch: Any) -> BatchJob:
        status = str(batch.status)
        state = STATES.get(status, "running")  # an unknown new status: keep polling until the timeout
        counts = getattr(batch, "request_counts", None)
        meta = dict(job.meta)
        meta["status"] = status
        for name in ("input_file_id", "output_file_id", "error_file_id"):
            value = getattr(batch, name, None)
            if value:
                meta[name] = str(value)
        for name in ("total", "completed", "failed"):
            value = getattr(counts, name, None)
            if value is not None:
                meta[name] = str(value)
        return dataclasses.replace(job, state=state, meta=meta, error=self._job_error(batch, state, meta))

    def _job_error(self, batch: Any, state: JobState, meta: Mapping[str, str]) -> str | None:
        done = f"{meta.get('completed', '0')} of {meta.get('total', '?')} requests done"
        if state == "failed":
            data = getattr(getattr(batch, "errors", None), "data", None) or []
            reasons = "; ".join(
                f"{'line ' + str(e.line) + ': ' if getattr(e, 'line', None) else ''}{e.code}: {e.message}"
                for e in data[:5]
            )
            return self.online.redact(f"batch {batch.id} failed: {reasons or 'no reason given'}")
        if state == "expired":
            return f"batch {batch.id} expired before its {COMPLETION_WINDOW} window closed ({done})"
        if state == "cancelled":
            return f"batch {batch.id} was cancelled ({done})"
        return None

    async def results(self, job: BatchJob) -> dict[str, ChatResponse]:
        """A reply per custom id found in the job's output and error files (partial for expired jobs)."""
        if not job.done or not ({"output_file_id", "error_file_id"} & job.meta.keys()):
            job = await self.poll(job)
        if not job.done:
            raise ValueError(f"batch {job.job_id} of teacher {self.teacher!r} is still {job.state}")
        wanted = set(job.custom_ids)
        found: dict[str, ChatResponse] = {}
        for name in ("output_file_id", "error_file_id"):
            file_id = job.meta.get(name)
            if not file_id:
                continue
            content = await self.online.call(lambda client, fid=file_id: client.files.content(fid))
            for number, raw in enumerate(content.content.decode("utf-8", "replace").splitlines(), 1):
                parsed = self._line(raw)
                if parsed is None:
                    if raw.strip():
                        logger.warning("batch %s, %s line %d: unreadable, skipped", job.job_id, name, number)
                    continue
                custom_id, response = parsed
                if custom_id in wanted and (custom_id not in found or not found[custom_id].ok):
                    found[custom_id] = response
        return found

    def _line(self, raw: str) -> tuple[str, ChatResponse] | None:
        """One output/error file line as (custom_id, reply); None when it is not a batch result line."""
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
            return None
        custom_id, response, error = record["custom_id"], record.get("response"), record.get("error")
        if isinstance(response, dict):
            status, body = response.get("status_code"), response.get("body")
            if status == 200 and isinstance(body, dict):
                try:
                    completion = self._chat_types.ChatCompletion.construct(**body)
                    return custom_id, self.online.to_response(completion, 0.0)
                except ProviderError as err:
                    return custom_id, self._failed(f"batch line: {err.message}", "retryable", status)
                except (AttributeError, TypeError, ValueError) as err:
                    text = self.online.redact(
                        f"batch line: malformed completion ({type(err).__name__}: {err})"
                    )
                    return custom_id, self._failed(text, "retryable", status)
            detail = body.get("error") if isinstance(body, dict) else None
            detail = detail if isinstance(detail, dict) else {}
            code = detail.get("code")
            http = status if isinstance(status, int) else None
            kind = error_kind(http, str(code) if code else None)
            message = self.online.redact(f"batch line failed: HTTP {status}: {detail.get('message', body)}")
            if kind == "refused":
                return custom_id, ChatResponse(text=None, status="refused", error=message)
            return custom_id, self._failed(message, kind, http)
        if isinstance(error, dict):
            text = f"batch line not run: {error.get('code')}: {error.get('message')}"
            return custom_id, self._failed(self.online.redact(text), "retryable", None)
        return custom_id, self._failed("batch line without a response or an error", "retryable", None)

    @staticmethod
    def _failed(message: str, kind: str, status_code: int | None) -> ChatResponse:
        meta: dict[str, Any] = {"kind": kind, "status_code": status_code}
        return ChatResponse(text=None, status="error", error=message, meta=meta)

    async def cancel(self, job: BatchJob) -> None:
        try:
            await self.online.call(lambda client: client.batches.cancel(job.job_id))
        except ProviderError as err:
            if err.status_code != 409:  # 409: already finished, nothing to cancel
                raise

    async def aclose(self) -> None:
        await self.online.aclose()


def create_batch_provider(cfg: TeacherConfig, api_key: str) -> OpenAIBatchProvider:
    return OpenAIBatchProvider(api_key, base_url=cfg.base_url, timeout_s=cfg.timeout_s, teacher=cfg.name)
