"""OpenAI batch jobs of the simulator: uploaded files, batches, and the background job answering each line."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from fair_core.teachers.simulator.openai_wire import completion_body, error_body, fault_payload, parse_call
from fair_core.teachers.simulator.protocol import SimFault
from tests.simulators.openai_batch_input import BatchLine, line_error, parse_input

if TYPE_CHECKING:
    from fair_core.teachers.simulator.protocol import SimulatorState

logger = logging.getLogger(__name__)

WIRE = "openai_batch"  # SimCall.wire of batch lines, so a fault hook can tell them from online calls
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}" if prefix == "file" else f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class JobPlan:
    """What one coming batch does instead of completing: fail validation, or expire after `lines_done`
    lines (those land in the output file, the rest in the error file as `batch_expired`)."""

    outcome: Literal["failed", "expired"]
    lines_done: int = 0
    message: str = "The batch failed (simulated)."


@dataclass
class SimFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass
class SimBatch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    api_key: str  # the creator's key, sent with every line; never rendered
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "validating"
    times: dict[str, int] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    model: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancel_requested: bool = False

    def set_status(self, status: str) -> None:
        self.status = status
        self.times[f"{status}_at"] = int(time.time())

    def to_json(self) -> dict[str, Any]:
        stamps = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86400,
            **{f"{s}_at": self.times.get(f"{s}_at") for s in stamps},
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
        }


class OpenAIBatchStore:
    """One simulator's files and batches, the job settings tests change, and per-endpoint call counts.

    `job_delay_s` is spent in each of validating, in_progress and finalizing; `plan_next(...)` makes a
    coming batch fail or expire; `calls` counts the Files/Batches endpoints (batch lines are chat calls
    and go to the simulator's stats like online ones).
    """

    def __init__(self, state: SimulatorState, job_delay_s: float = 0.0, line_concurrency: int = 64) -> None:
        self.state = state
        self.job_delay_s = job_delay_s
        self.line_concurrency = line_concurrency
        self.files: dict[str, SimFile] = {}
        self.batches: dict[str, SimBatch] = {}
        self.plans: deque[JobPlan] = deque()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def plan_next(self, outcome: Literal["failed", "expired"], lines_done: int = 0) -> None:
        self.plans.append(JobPlan(outcome, lines_done))

    def count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            calls = dict(self.calls)
        return {
            "calls": calls,
            "files": len(self.files),
            "batches": {b.id: b.status for b in list(self.batches.values())},
        }

    def add_file(self, filename: str, purpose: str, data: bytes) -> SimFile:
        sim_file = SimFile(new_id("file"), filename, purpose, data)
        self.files[sim_file.id] = sim_file
        return sim_file

    def start(self, batch: SimBatch) -> None:
        """Run the job on the simulator's event loop (the caller is a request handler there)."""
        self.batches[batch.id] = batch
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _step(self, batch: SimBatch) -> bool:
        """Wait one job step; False when the batch was cancelled meanwhile."""
        await asyncio.sleep(self.job_delay_s)
        return not batch.cancel_requested

    async def _run(self, batch: SimBatch) -> None:
        try:
            await self._process(batch)
        except Exception as err:  # a simulator bug: fail the batch visibly instead of hanging it
            logger.exception("simulated batch %s crashed", batch.id)
            batch.errors = [line_error(None, "internal_error", f"{type(err).__name__}: {err}")]
            batch.set_status("failed")

    async def _process(self, batch: SimBatch) -> None:
        if not await self._step(batch):
            batch.set_status("cancelled")
            return
        plan = self.plans.popleft() if self.plans else None
        lines, errors = parse_input(self.files[batch.input_file_id].data, batch.endpoint)
        if plan is not None and plan.outcome == "failed" and not errors:
            errors = [line_error(None, "simulated_failure", plan.message)]
        if errors:
            batch.errors = errors
            batch.set_status("failed")
            return
        batch.model, batch.total = lines[0].body["model"], len(lines)
        batch.set_status("in_progress")
        expire_after = plan.lines_done if plan is not None and plan.outcome == "expired" else None
        semaphore = asyncio.Semaphore(max(1, self.line_concurrency))

        async def answer(index: int, line: BatchLine) -> dict[str, Any]:
            async with semaphore:
                if expire_after is not None and index >= expire_after:
                    return self._unrun(line, "batch_expired", EXPIRED_MESSAGE)
                if batch.cancel_requested:
                    return self._unrun(line, "batch_cancelled", CANCELLED_MESSAGE)
                record = await self._answer(batch, line)
                if record["response"]["status_code"] == 200:
                    batch.completed += 1
                else:
                    batch.failed += 1
                return record

        records = await asyncio.gather(*(answer(i, line) for i, line in enumerate(lines)))
        batch.failed += sum(1 for r in records if r["response"] is None)
        if await self._step(batch):
            batch.set_status("finalizing")
            await self._step(batch)
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for record in records:
            ok = record["response"] is not None and record["response"]["status_code"] == 200
            (done if ok else failed).append(record)
        if done:
            batch.output_file_id = self._write(f"{batch.id}_output.jsonl", done).id
        if failed:
            batch.error_file_id = self._write(f"{batch.id}_error.jsonl", failed).id
        final = (
            "cancelled" if batch.cancel_requested else "expired" if expire_after is not None else "completed"
        )
        batch.set_status(final)

    def _write(self, filename: str, records: list[dict[str, Any]]) -> SimFile:
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        return self.add_file(filename, "batch_output", data)

    @staticmethod
    def _unrun(line: BatchLine, code: str, message: str) -> dict[str, Any]:
        error = {"code": code, "message": message}
        return {"id": new_id("batch_req"), "custom_id": line.custom_id, "response": None, "error": error}

    async def _answer(self, batch: SimBatch, line: BatchLine) -> dict[str, Any]:
        """One line through the same path as an online call (stats, fault hook), as an output record."""
        call = parse_call(line.body, batch.api_key)
        if isinstance(call, str):
            self.state.stats.rejected("invalid")
            status, body = 400, error_body(call, "invalid_request_error")
        else:
            outcome = await self.state.handle(replace(call, wire=WIRE))
            if isinstance(outcome, SimFault):
                status, body = fault_payload(outcome, call.model)
            else:
                status = 200
                body = completion_body(
                    call.model,
                    outcome.text,
                    outcome.finish_reason,
                    outcome.prompt_tokens,
                    outcome.completion_tokens,
                )
        response = {"status_code": status, "request_id": new_id("req"), "body": body}
        return {"id": new_id("batch_req"), "custom_id": line.custom_id, "response": response, "error": None}


_STORES: weakref.WeakKeyDictionary[SimulatorState, OpenAIBatchStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def batch_store(state: SimulatorState) -> OpenAIBatchStore:
    """The OpenAI batch store of a simulator (`batch_store(handle.state)` in tests), made on first use."""
    with _STORES_LOCK:
        store = _STORES.get(state)
        if store is None:
            store = _STORES[state] = OpenAIBatchStore(state)
        return store
