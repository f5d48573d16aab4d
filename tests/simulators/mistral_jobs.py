"""Files and batch jobs behind the simulator's Mistral wire (routes in mistral_wire.py): store and job runner.

A job runs in the background on the simulator's loop: QUEUED -> RUNNING -> SUCCESS, each JSONL line
`{"custom_id", "body"}` answered through `SimulatorState.handle` (stats count it, the fault hook sees a
`SimCall` with wire "mistral_batch"). A faulted line becomes an error line `{"id", "custom_id", "response":
{"status_code", "body"}, "error": {"message", "code"}}` in the error file; `safety` and `empty` give a reply
without content, `malformed` a broken output line, `empty_body` a line without a body, `drop` loses the
line. A cancelled job keeps the lines done so far.

Whole-job failures, for fallback tests: before its lines, the hook is asked once with wire
"mistral_batch_job" (the job's model and key): `server_error` makes the job FAILED (its message in `errors`),
`timeout` makes it TIMEOUT_EXCEEDED after `delay_s`, with only the first half of its lines answered (they are
in its output file); other kinds are per-request faults and are ignored at the job level.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fair_core.records import Message
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from tests.simulators import mistral_format as wire

if TYPE_CHECKING:
    from fair_core.teachers.simulator.protocol import SimulatorState

LINE_WIRE = "mistral_batch"
JOB_WIRE = "mistral_batch_job"
ENDPOINT = "/v1/chat/completions"
FINAL = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
#: Lines of one job answered at once.
JOB_CONCURRENCY = 32


@dataclass
class StoredFile:
    id: str
    filename: str
    data: bytes
    purpose: str = "batch"
    sample_type: str = "batch_request"
    source: str = "upload"
    created_at: int = field(default_factory=lambda: int(time.time()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.data.count(b"\n") + (0 if self.data.endswith(b"\n") or not self.data else 1),
            "mimetype": "application/jsonl",
            "signature": None,
        }


@dataclass
class SimJob:
    id: str
    model: str
    input_files: list[str]
    metadata: dict[str, Any] | None
    api_key: str | None
    lines: list[tuple[str | None, Any]]
    status: str = "QUEUED"
    created_at: int = field(default_factory=lambda: int(time.time()))
    started_at: int | None = None
    completed_at: int | None = None
    succeeded: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file: str | None = None
    error_file: str | None = None
    #: per input line: ("out" | "err" | "lost", output line), None while not answered
    results: list[tuple[str, str] | None] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": ENDPOINT,
            "model": self.model,
            "agent_id": None,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": self.errors,
            "outputs": None,
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": len(self.lines),
            "completed_requests": self.succeeded + self.failed,
            "succeeded_requests": self.succeeded,
            "failed_requests": self.failed,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart/form-data body: name -> (filename, content); {} if it is not one."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return {}
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def parse_lines(data: bytes) -> list[tuple[str | None, Any]]:
    """(custom_id, body) per non-empty JSONL line; body is None where the line is not a request."""
    lines: list[tuple[str | None, Any]] = []
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            lines.append((None, None))
            continue
        if not isinstance(row, dict):
            lines.append((None, None))
            continue
        custom_id = row.get("custom_id")
        body = row.get("body")
        lines.append(
            (str(custom_id) if custom_id is not None else None, body if isinstance(body, dict) else None)
        )
    return lines


class MistralJobs:
    """The files and batch jobs of one simulator app; jobs run as tasks on the server's event loop."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, SimJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def add_file(self, filename: str, data: bytes, **kw: Any) -> StoredFile:
        stored = StoredFile(id=str(uuid.uuid4()), filename=filename, data=data, **kw)
        self.files[stored.id] = stored
        return stored

    def start(self, job: SimJob) -> None:
        job.results = [None] * len(job.lines)
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[job.id] = task
        task.add_done_callback(lambda done: self._settle(job, done))

    def cancel(self, job: SimJob) -> None:
        task = self._tasks.get(job.id)
        if job.status not in FINAL and task is not None:
            job.status = "CANCELLATION_REQUESTED"
            task.cancel()

    def _job_fault(self, job: SimJob) -> SimFault | None:
        if self.state.faults is None:
            return None
        text = f"batch job {job.id}: {len(job.lines)} requests"
        call = SimCall(wire=JOB_WIRE, model=job.model, messages=(Message("user", text),), api_key=job.api_key)
        fault = self.state.faults(call)
        return fault if fault is not None and fault.kind in ("server_error", "timeout") else None

    async def _run(self, job: SimJob) -> None:
        await asyncio.sleep(0)  # the create call answers QUEUED first
        job.status, job.started_at = "RUNNING", int(time.time())
        fault = self._job_fault(job)
        if fault is not None and fault.kind == "server_error":
            job.errors.append({"message": fault.message, "count": 1})
            self._finish(job, "FAILED")
            return
        todo = len(job.lines) // 2 if fault is not None else len(job.lines)
        semaphore = asyncio.Semaphore(JOB_CONCURRENCY)

        async def one(index: int) -> None:
            async with semaphore:
                job.results[index] = result = await self._answer(job, index)
            if result[0] == "out":
                job.succeeded += 1
            else:
                job.failed += 1

        await asyncio.gather(*(one(i) for i in range(todo)))
        if fault is not None:
            await asyncio.sleep(fault.delay_s)
            job.errors.append({"message": fault.message or "timeout exceeded", "count": 1})
            self._finish(job, "TIMEOUT_EXCEEDED")
        else:
            self._finish(job, "SUCCESS")

    def _settle(self, job: SimJob, task: asyncio.Task[None]) -> None:
        """When the job's task ends cancelled or crashed: its final state and the lines done so far."""
        self._tasks.pop(job.id, None)
        if task.cancelled():
            self._finish(job, "CANCELLED")
        elif task.exception() is not None:
            job.errors.append({"message": f"simulator error: {task.exception()!r}", "count": 1})
            self._finish(job, "FAILED")

    async def _answer(self, job: SimJob, index: int) -> tuple[str, str]:
        """("out" | "err", the output line) for one input line, or ("lost", "") when it is dropped."""
        custom_id, body = job.lines[index]
        line_id = f"batch-{job.id}-{index}"
        call = (
            wire.parse_call({"model": job.model, **body}, job.api_key, wire=LINE_WIRE)
            if body is not None
            else "each line must be a JSON object with a 'body' object"
        )
        if isinstance(call, str):
            error = wire.error_body(call, "invalid_request_error", "invalid_request")
            return "err", _line(line_id, custom_id, 422, error, call)
        outcome = await self.state.handle(call)
        if not isinstance(outcome, SimFault):
            return "out", _line(line_id, custom_id, 200, wire.reply_body(call.model, outcome))
        if outcome.kind == "drop":
            return "lost", ""
        if outcome.kind == "malformed":
            return "out", f'{{"id": "{line_id}", "custom_id": "{custom_id}", "response": {{"status_'
        if outcome.kind == "empty_body":
            return "out", _line(line_id, custom_id, 200, None)
        status, body, _ = wire.fault_payload(outcome, call.model)
        if status == 200:
            return "out", _line(line_id, custom_id, 200, body)
        return "err", _line(line_id, custom_id, status, body, outcome.message)

    def _finish(self, job: SimJob, status: str) -> None:
        """Write the output and error files, then publish the final status (a poll never sees one without)."""
        job.completed_at = int(time.time())
        done = [r for r in job.results if r is not None]
        out = [line for kind, line in done if kind == "out"]
        err = [line for kind, line in done if kind == "err"]
        job.succeeded, job.failed = len(out), len(done) - len(out)
        if out:
            data = ("\n".join(out) + "\n").encode()
            stored = self.add_file(f"{job.id}.jsonl", data, sample_type="batch_result", source="mistral")
            job.output_file = stored.id
        if err:
            data = ("\n".join(err) + "\n").encode()
            stored = self.add_file(f"{job.id}_error.jsonl", data, sample_type="batch_error", source="mistral")
            job.error_file = stored.id
        job.status = status


def _line(line_id: str, custom_id: str | None, status: int, body: Any, error: str | None = None) -> str:
    row = {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": status, "body": body},
        "error": None if error is None else {"message": error, "code": status},
    }
    return json.dumps(row)
