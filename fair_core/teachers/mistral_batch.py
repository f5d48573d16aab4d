"""Mistral batch jobs as a `BatchProvider`: JSONL upload, a job on the teacher's model, polls, replies."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fair_core.hashing import stable_hash
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, require_sdk
from fair_core.teachers.batch import FINAL_STATES, BatchJob, JobState
from fair_core.teachers.mistral_provider import MistralClient, chat_body, error_summary, to_chat_response

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

logger = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
#: Mistral job status -> BatchJob state (unknown statuses keep the job polled as running).
STATES: dict[str, JobState] = {
    "QUEUED": "pending",
    "RUNNING": "running",
    "CANCELLATION_REQUESTED": "running",
    "SUCCESS": "completed",
    "FAILED": "failed",
    "TIMEOUT_EXCEEDED": "expired",
    "CANCELLED": "cancelled",
}


def batch_lines(requests: Sequence[ChatRequest]) -> tuple[tuple[str, ...], bytes]:
    """The custom ids (request keys, first occurrence kept) and the JSONL input file of a batch."""
    ids: dict[str, None] = {}
    lines: list[str] = []
    for request in requests:
        key = request.key()
        if key in ids:
            continue
        ids[key] = None
        lines.append(json.dumps({"custom_id": key, "body": chat_body(request)}, ensure_ascii=False))
    return tuple(ids), ("\n".join(lines) + "\n").encode()


class MistralBatchProvider(MistralClient):
    """One teacher's Mistral batch jobs; SDK errors are mapped to ProviderError kinds as online."""

    def __init__(
        self,
        api_key: str,
        teacher: str,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        timeout_hours: int = 24,
    ) -> None:
        super().__init__(api_key, base_url, timeout_s)
        self.teacher, self.model, self.timeout_hours = teacher, model, timeout_hours
        self._models = require_sdk("mistralai.client.models", "mistralai", "mistral")

    async def submit(self, requests: Sequence[ChatRequest]) -> BatchJob:
        if not requests:
            raise ProviderError("invalid", f"teacher {self.teacher!r}: a batch needs at least one request")
        others = sorted({r.model for r in requests} - {self.model})
        if others:
            raise ProviderError(
                "invalid", f"teacher {self.teacher!r}: a batch job runs on {self.model!r}, not {others}"
            )
        custom_ids, data = batch_lines(requests)
        name = f"fair-{self.teacher}-{stable_hash(list(custom_ids))[:12]}.jsonl"
        client = self._client_for_loop()
        try:
            uploaded = await client.files.upload_async(
                file={"file_name": name, "content": data}, purpose="batch", timeout_ms=self.timeout_ms
            )
            job = await client.batch.jobs.create_async(
                input_files=[uploaded.id],
                endpoint=ENDPOINT,
                model=self.model,
                metadata={"teacher": self.teacher, "source": "fair"},
                timeout_hours=self.timeout_hours,
                timeout_ms=self.timeout_ms,
            )
        except Exception as err:
            raise self.classify(err) from None
        record = BatchJob(
            job_id=job.id,
            provider="mistral",
            teacher=self.teacher,
            custom_ids=custom_ids,
            meta={"input_file": uploaded.id, "model": self.model},
        )
        return self._update(record, job)

    def _update(self, record: BatchJob, job: Any) -> BatchJob:
        status = str(job.status)
        meta = dict(record.meta, status=status)
        for name in ("output_file", "error_file"):
            value = getattr(job, name, None)
            if isinstance(value, str) and value:
                meta[name] = value
        for name in ("total", "completed", "succeeded", "failed"):
            meta[name] = str(getattr(job, f"{name}_requests", None) or 0)
        messages = [e.message for e in getattr(job, "errors", None) or [] if getattr(e, "message", None)]
        error = self._redact("; ".join(messages)) if messages else None
        state = STATES.get(status, "running")
        if state in ("failed", "expired", "cancelled") and error is None:
            error = f"batch job {job.id} ended {status}"
        return dataclasses.replace(record, state=state, meta=meta, error=error)

    async def poll(self, job: BatchJob) -> BatchJob:
        try:
            current = await self._client_for_loop().batch.jobs.get_async(
                job_id=job.job_id, timeout_ms=self.timeout_ms
            )
        except Exception as err:
            raise self.classify(err) from None
        return self._update(job, current)

    async def _download(self, file_id: str) -> bytes:
        try:
            response = await self._client_for_loop().files.download_async(
                file_id=file_id, timeout_ms=self.timeout_ms
            )
            try:
                return await response.aread()
            finally:
                await response.aclose()
        except Exception as err:
            raise self.classify(err) from None

    async def results(self, job: BatchJob) -> Mapping[str, ChatResponse]:
        """Replies per custom id from the output and error files (a finished job: expired and cancelled
        jobs keep the lines done before they stopped). Lines that fail, or cannot be read, are errors or
        absent, so they go to the online path."""
        if job.state not in FINAL_STATES:
            raise ProviderError(
                "invalid", f"batch job {job.job_id} is {job.state}: no results before it ends"
            )
        if "status" not in job.meta:
            job = await self.poll(job)
        wanted = set(job.custom_ids)
        replies: dict[str, ChatResponse] = {}
        unreadable = 0
        for name in ("error_file", "output_file"):  # a success overrides an error for the same id
            if not job.meta.get(name):
                continue
            for raw in (await self._download(job.meta[name])).splitlines():
                if not raw.strip():
                    continue
                parsed = self._line(raw, job.job_id)
                if parsed is None:
                    unreadable += 1
                elif parsed[0] in wanted:
                    replies[parsed[0]] = parsed[1]
        if unreadable:
            logger.warning(
                "teacher %r: %d unreadable line(s) in the output of batch job %s (sent online instead)",
                self.teacher,
                unreadable,
                job.job_id,
            )
        return replies

    def _line(self, raw: bytes, job_id: str) -> tuple[str, ChatResponse] | None:
        """(custom id, reply) of one output or error line; None when the line cannot be read."""
        try:
            row = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(row, dict) or not isinstance(row.get("custom_id"), str):
            return None
        response = row.get("response") if isinstance(row.get("response"), dict) else {}
        status = response.get("status_code")
        body = response.get("body")
        if row.get("error") or status != 200:
            error = row.get("error")
            detail = error.get("message") if isinstance(error, dict) else None
            detail = detail or error_summary(json.dumps(body) if body is not None else None)
            message = self._redact(f"batch job {job_id}: line failed with HTTP {status}: {detail}")
            meta = {"status_code": status, "batch_job": job_id}
            return row["custom_id"], ChatResponse(text=None, status="error", error=message, meta=meta)
        try:
            completion = self._models.ChatCompletionResponse.model_validate(body)
            reply = to_chat_response(completion, 0.0, self._redact)
        except ProviderError as err:
            return row["custom_id"], ChatResponse.failure("error", f"batch job {job_id}: {err.message}")
        except ValueError as err:  # pydantic's ValidationError
            message = self._redact(f"batch job {job_id}: malformed reply body: {err}"[:500])
            return row["custom_id"], ChatResponse.failure("error", message)
        return row["custom_id"], dataclasses.replace(reply, meta={"batch_job": job_id})

    async def cancel(self, job: BatchJob) -> None:
        try:
            await self._client_for_loop().batch.jobs.cancel_async(
                job_id=job.job_id, timeout_ms=self.timeout_ms
            )
        except Exception as err:
            raise self.classify(err) from None


def create_batch_provider(cfg: TeacherConfig, api_key: str) -> MistralBatchProvider:
    return MistralBatchProvider(
        api_key=api_key,
        teacher=cfg.name,
        model=cfg.model,
        base_url=cfg.base_url,
        timeout_s=cfg.timeout_s,
        timeout_hours=max(1, math.ceil(cfg.batch_timeout_s / 3600)),
    )
