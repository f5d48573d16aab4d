"""Batch mode of a teacher (`mode: batch`): requests through the provider's batch API, resumable.

Cached requests are skipped; the rest are submitted as jobs of at most `max_lines` requests whose custom
ids are the cache keys. Each job is recorded in the `batch_jobs` table beside the response cache the
moment the provider returns its id, so a restarted run finds its unfinished jobs and polls them again
instead of submitting new ones. Jobs are polled every `poll_s` until final or `timeout_s` after their
submission (then cancelled). Completed rows go to the cache; failed, expired or missing rows go to the
online path (the engine, with its limits, retries and budget).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fair_core.hashing import stable_hash
from fair_core.teachers.attempts import budget_response
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, TeacherProvider
from fair_core.teachers.batch import FINAL_STATES, BatchJob, BatchProvider
from fair_core.teachers.cache import CACHEABLE, ResponseCache
from fair_core.teachers.cost import Price, call_cost, max_request_cost
from fair_core.teachers.engine import CallOptions, CallResult, run_requests
from fair_core.teachers.keeping import keep
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.sidecar import Sidecar
from fair_core.teachers.tracking import EngineProgress

logger = logging.getLogger(__name__)

#: Requests per job (OpenAI allows 50,000 lines and Mistral 1,000,000; smaller jobs finish sooner).
DEFAULT_MAX_LINES = 10_000
BatchReport = Callable[[int, int, str], None]


@dataclass
class BatchRun:
    """Replies in input order and every job this run submitted or resumed (for the `batch_jobs` table)."""

    results: list[CallResult]
    jobs: list[BatchJob] = field(default_factory=list)
    online_fallback: int = 0


def job_key(teacher: str, custom_ids: Sequence[str]) -> str:
    return stable_hash(["batch-job", teacher, sorted(custom_ids)])


class _Batches:
    """One call's state: the requests by key, the replies found, the keys that go online."""

    def __init__(
        self,
        teacher: str,
        provider: str,
        batch: BatchProvider,
        cache: ResponseCache,
        sidecar: Sidecar,
        price: Price | None,
        ledger: RunLedger | None,
        report: BatchReport | None,
        requests: Mapping[str, ChatRequest],
    ) -> None:
        self.teacher, self.provider, self.batch, self.cache, self.sidecar = (
            teacher,
            provider,
            batch,
            cache,
            sidecar,
        )
        self.price, self.ledger, self.report = price, ledger, report
        self.requests, self.total = requests, len(requests)
        self.replies: dict[str, ChatResponse] = {}
        self.online: list[str] = []
        self.jobs: list[BatchJob] = []
        self.fatal: str | None = None
        self.done = 0

    def emit(self, info: str) -> None:
        if self.report is not None:
            try:
                self.report(self.done, self.total, info)
            except Exception:
                logger.exception("batch progress callback failed; no further progress is reported")
                self.report = None

    async def submit(self, requests: Sequence[ChatRequest], key: str) -> BatchJob | None:
        """Submit one job and persist it at once; None when it went wrong (its requests go online)."""
        try:
            job = await self.batch.submit(requests)
        except ProviderError as err:
            if err.kind == "fatal":
                self.fatal = err.message
            else:
                logger.warning("teacher %r: batch submit failed (%s); sending online", self.teacher, err)
            return None
        record = replace(
            job,
            teacher=self.teacher,
            provider=self.provider,
            custom_ids=tuple(job.custom_ids),
            meta={str(k): str(v) for k, v in job.meta.items()},
            job_key=key,
            submitted_at=time.time(),
            finished_at=None,
            consumed=False,
        )
        await asyncio.to_thread(self.sidecar.put_job, record)
        logger.info(
            "teacher %r: batch job %s submitted (%d requests)", self.teacher, job.job_id, len(requests)
        )
        return record

    async def poll(self, record: BatchJob, timeout_s: float) -> bool:
        """Poll once; True when the job is final (expired on our side after `timeout_s`)."""
        try:
            job = await self.batch.poll(record)
        except ProviderError as err:
            if err.kind == "fatal":
                self.fatal = err.message
                return True
            logger.warning("teacher %r: polling batch job %s failed: %s", self.teacher, record.job_id, err)
            job = None
        if job is not None and (job.state, job.meta, job.error) != (record.state, record.meta, record.error):
            record.state, record.error = job.state, job.error
            record.meta = {str(k): str(v) for k, v in job.meta.items()}
            await asyncio.to_thread(self.sidecar.put_job, record)
        if record.state in FINAL_STATES:
            return True
        if time.time() - record.submitted_at > timeout_s:
            try:
                await self.batch.cancel(record)
            except ProviderError as err:
                logger.warning("teacher %r: cancelling batch job %s: %s", self.teacher, record.job_id, err)
            record.state, record.error = "expired", f"no result within batch_timeout_s={timeout_s:g}s"
            return True
        return False

    async def collect(self, record: BatchJob, wanted: set[str]) -> None:
        """Take a final job's replies into the cache; its other wanted rows go online. Marks it consumed."""
        found: Mapping[str, ChatResponse] = {}
        if record.state == "completed":
            try:
                found = await self.batch.results(record)
            except ProviderError as err:
                logger.warning("teacher %r: results of batch %s: %s", self.teacher, record.job_id, err)
                record.error = err.message
        good = {
            k: replace(r, meta={**r.meta, "mode": "batch"}) for k, r in found.items() if r.status in CACHEABLE
        }
        await asyncio.to_thread(self._store, good)
        for key in record.custom_ids:
            if key not in wanted:
                continue
            if key in good:
                self.replies[key] = good[key]
                self.done += 1
            else:
                self.online.append(key)
        record.consumed, record.finished_at = True, time.time()
        await asyncio.to_thread(self.sidecar.put_job, record)
        lost = len([k for k in record.custom_ids if k in wanted and k not in good])
        self.emit(f"batch {record.job_id} {record.state}: {len(good)} replies, {lost} go online")

    def _store(self, good: Mapping[str, ChatResponse]) -> None:
        for key, response in good.items():
            request = self.requests.get(key)
            if request is None:  # a row of a resumed job that this call does not need
                continue
            cost = call_cost(self.price, response.prompt_tokens, response.completion_tokens, "batch")
            spend = self.ledger.spend_row(self.teacher, key, "batch", cost) if self.ledger else None
            keep(self.cache, self.ledger, request, response, spend)  # ReplyStoreError: the job stays open
            if self.ledger is not None:
                self.ledger.settle(0.0, cost, self.teacher)


def _progress_line(records: Sequence[BatchJob]) -> str:
    parts = []
    for r in records:
        counts = ""
        if "completed" in r.meta and "total" in r.meta:
            counts = f" {r.meta['completed']}/{r.meta['total']}"
        parts.append(f"{r.job_id[:12]} {r.state}{counts}")
    return "batch " + ", ".join(parts)


async def run_batch_requests(
    requests: Sequence[ChatRequest],
    batch: BatchProvider,
    online: TeacherProvider,
    cache: ResponseCache,
    *,
    poll_s: float,
    timeout_s: float,
    max_lines: int = DEFAULT_MAX_LINES,
    refresh: bool = False,
    price: Price | None = None,
    ledger: RunLedger | None = None,
    progress: BatchReport | None = None,
    online_options: CallOptions | None = None,
) -> BatchRun:
    """Replies to one teacher's `requests` (input order) through its batch API, then the online path."""
    requests = list(requests)
    if not requests:
        return BatchRun([])
    teacher, provider = requests[0].teacher, requests[0].provider
    if any(r.teacher != teacher for r in requests):
        raise ValueError("run_batch_requests takes the requests of one teacher")
    unique: dict[str, ChatRequest] = {}
    for request in requests:
        unique.setdefault(request.key(), request)
    cached = {} if refresh else await asyncio.to_thread(cache.get_many, list(unique))
    missing = [k for k in unique if k not in cached]
    sidecar = Sidecar(cache.database)
    state = _Batches(teacher, provider, batch, cache, sidecar, price, ledger, progress, unique)
    state.done = len(cached)
    wanted = set(missing)
    resumed = [
        j for j in await asyncio.to_thread(sidecar.open_jobs, teacher, provider) if wanted & set(j.custom_ids)
    ]
    for record in resumed:
        logger.info("teacher %r: resuming batch job %s (state %s)", teacher, record.job_id, record.state)
    covered = {k for j in resumed for k in j.custom_ids}
    rest = [k for k in missing if k not in covered]
    budget_stopped: list[str] = []
    pending = list(resumed)
    for start in range(0, len(rest), max(1, max_lines)):
        chunk = rest[start : start + max_lines]
        worst = sum(max_request_cost(price, unique[k], "batch") for k in chunk)
        if ledger is not None and not await asyncio.to_thread(ledger.reserve, worst):
            budget_stopped += chunk
            continue
        record = (
            None if state.fatal else await state.submit([unique[k] for k in chunk], job_key(teacher, chunk))
        )
        if ledger is not None:
            await asyncio.to_thread(ledger.release, worst)  # batch costs are charged when results arrive
        if record is None:
            state.online += chunk
        else:
            pending.append(record)
    state.jobs = list(pending)
    state.emit(_progress_line(pending) if pending else "batch: nothing to submit")
    while pending and state.fatal is None:
        finished = []
        for record in pending:
            if await state.poll(record, timeout_s):
                finished.append(record)
        for record in finished:
            pending.remove(record)
            if state.fatal is None:
                await state.collect(record, wanted)
        if pending and state.fatal is None:
            state.emit(_progress_line(pending))
            await asyncio.sleep(poll_s)
    replies: dict[str, tuple[ChatResponse, bool, int]] = {k: (r, True, 0) for k, r in cached.items()}
    replies.update({k: (r, False, 1) for k, r in state.replies.items()})
    if state.fatal is not None:
        message = f"teacher {teacher!r} ({provider}) stopped after a fatal batch API error: {state.fatal}"
        logger.warning("%s", message)
        for key in missing:
            replies.setdefault(key, (ChatResponse.failure("fatal", message), False, 0))
    stop = budget_response(ledger) if ledger is not None else None
    for key in budget_stopped:
        replies[key] = (stop or ChatResponse.failure("error", "budget reached"), False, 0)
    fallback = [k for k in dict.fromkeys(state.online) if k not in replies]
    if fallback:
        logger.info("teacher %r: %d requests go to the online path", teacher, len(fallback))

        def report(p: EngineProgress) -> None:
            state.emit(f"online fallback {p.done}/{p.total}: {p.info()}")

        options = online_options or CallOptions(refresh=refresh)
        online_results = await run_requests(
            [unique[k] for k in fallback], {teacher: online}, cache, options, progress=report
        )
        for key, result in zip(fallback, online_results, strict=True):
            replies[key] = (result.response, False, result.attempts)
    sidecar.close()
    results = []
    for request in requests:
        response, was_cached, attempts = replies[request.key()]
        results.append(CallResult(request, response, cached=was_cached, attempts=attempts))
    return BatchRun(results, state.jobs, len(fallback))
