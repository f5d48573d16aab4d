"""Gemini batch wire of the simulator: inlined-request batch jobs as google-genai's `aio.batches` calls them.

POST /{v}/models/<model>:batchGenerateContent creates a job ("batches/gemini-<hex>", so the paths never
collide with the OpenAI batch wire's /v1/batches/<id>), GET /{v}/batches/<id> reads it, POST
/{v}/batches/<id>:cancel cancels it, DELETE removes it. A job runs on the simulator's loop: pending for
`batch_jobs(state).step_s`, running (each line answered through `SimulatorState.handle` with
`SimCall.wire == "gemini_batch"`, so stats and the fault hook apply per line: a faulted line becomes a line
error, a safety fault a SAFETY candidate), then succeeded with `metadata.output.inlinedResponses` in request
order, each with its request's metadata. Before a job runs, the fault hook is asked once with a `SimCall`
whose wire is "gemini_batch_job": a `server_error` fault fails the job, a `timeout` fault expires it (other
kinds are ignored there), as do the outcomes queued with `batch_jobs(state).plan_next(...)`.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fair_core.records import Message
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from tests.simulators.gemini_wire import (
    GRPC_CODES,
    VERSIONS,
    api_key,
    error_response,
    fault_payload,
    parse_call,
    read_json,
    render_fault,
    sim_reply_body,
    wire_log,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.routing import Route

    from fair_core.teachers.simulator.protocol import SimulatorState

PROVIDERS = ("gemini:batch",)
LINE_WIRE = "gemini_batch"
JOB_WIRE = "gemini_batch_job"
#: Lines of one job answered at once.
JOB_CONCURRENCY = 32
DONE_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SimBatchJob:
    """One batch job: its lines (a call, or why the line is invalid, with the line's metadata) and outputs."""

    name: str
    model: str
    display_name: str
    lines: list[tuple[SimCall | str, Any]]
    state: str = "PENDING"
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    ended: str | None = None
    error: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def set_state(self, state: str, error: str | None = None) -> None:
        self.state, self.updated = state, _now()
        if state in DONE_STATES:
            self.ended, self.error = self.updated, error

    def resource(self) -> dict[str, Any]:
        """The job as the API returns it: an operation whose metadata is a GenerateContentBatch."""
        failed = sum("error" in o for o in self.outputs)
        stats = {"requestCount": str(len(self.lines))}
        if self.state == "SUCCEEDED":
            stats["successfulRequestCount"] = str(len(self.outputs) - failed)
            stats["failedRequestCount"] = str(failed)
        else:
            stats["pendingRequestCount"] = str(len(self.lines))
        metadata: dict[str, Any] = {
            "@type": _TYPE,
            "name": self.name,
            "displayName": self.display_name,
            "model": f"models/{self.model}",
            "state": f"BATCH_STATE_{self.state}",
            "createTime": self.created,
            "updateTime": self.updated,
            "batchStats": stats,
        }
        if self.ended:
            metadata["endTime"] = self.ended
        if self.state == "SUCCEEDED":
            metadata["output"] = {"inlinedResponses": {"inlinedResponses": self.outputs}}
        body: dict[str, Any] = {"name": self.name, "metadata": metadata, "done": self.state in DONE_STATES}
        if self.error:
            body["error"] = {"code": GRPC_CODES["INTERNAL"], "message": self.error}
        return body


@dataclass
class BatchJobs:
    """The Gemini batch jobs of one simulator; `step_s` is how long a job stays pending, then running;
    `created` counts the jobs ever created."""

    jobs: dict[str, SimBatchJob] = field(default_factory=dict)
    step_s: float = 0.05
    created: int = 0
    planned: deque[str] = field(default_factory=deque)

    def plan_next(self, outcome: Literal["failed", "expired"]) -> None:
        """Make the next job that runs fail or expire instead of succeeding."""
        self.planned.append(outcome)


_JOBS: weakref.WeakKeyDictionary[SimulatorState, BatchJobs] = weakref.WeakKeyDictionary()


def batch_jobs(state: SimulatorState) -> BatchJobs:
    return _JOBS.setdefault(state, BatchJobs())


async def _answer(
    state: SimulatorState, line: SimCall | str, metadata: Any, bound: asyncio.Semaphore
) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": metadata} if metadata is not None else {}
    if isinstance(line, str):
        return {**out, "error": {"code": GRPC_CODES["INVALID_ARGUMENT"], "message": line}}
    async with bound:
        outcome = await state.handle(line)
    if not isinstance(outcome, SimFault):
        return {**out, "response": sim_reply_body(line.model, outcome)}
    status, body = fault_payload(outcome, line)
    if status == 200:
        return {**out, "response": body}
    if outcome.kind in ("drop", "malformed", "empty_body"):  # a broken transport inside a batch: internal
        status, body = 500, {"error": {"status": "INTERNAL", "message": outcome.message}}
    error = body["error"]
    code = GRPC_CODES.get(error["status"], GRPC_CODES["INTERNAL"])
    return {**out, "error": {"code": code, "message": f"{error['status']}: {error['message']}"}}


async def _run(state: SimulatorState, jobs: BatchJobs, job: SimBatchJob, key: str | None) -> None:
    try:
        await _steps(state, jobs, job, key)
    except Exception as err:  # a broken fault hook fails the job instead of leaving it running forever
        job.set_state("FAILED", f"simulator error: {type(err).__name__}: {err}")


async def _steps(state: SimulatorState, jobs: BatchJobs, job: SimBatchJob, key: str | None) -> None:
    await asyncio.sleep(jobs.step_s)
    if job.state != "PENDING":
        return
    job.set_state("RUNNING")
    outcome = jobs.planned.popleft() if jobs.planned else None
    if outcome is None and state.faults is not None:
        text = f"batch job {job.name}: {len(job.lines)} requests"
        fault = state.faults(SimCall(JOB_WIRE, job.model, (Message("user", text),), key))
        if fault is not None and fault.kind in ("server_error", "timeout"):
            outcome = "expired" if fault.kind == "timeout" else f"failed: {fault.message}"
    if outcome is not None:
        await asyncio.sleep(jobs.step_s)
        if outcome == "expired":
            job.set_state("EXPIRED", "the batch did not finish within its completion window")
        else:
            job.set_state(
                "FAILED", outcome.removeprefix("failed: ") if ":" in outcome else "simulated failure"
            )
        return
    bound = asyncio.Semaphore(JOB_CONCURRENCY)
    outputs = await asyncio.gather(*(_answer(state, line, meta, bound) for line, meta in job.lines))
    await asyncio.sleep(jobs.step_s)
    if job.state == "RUNNING":
        job.outputs = list(outputs)
        job.set_state("SUCCEEDED")


def _parse_batch(body: Any, model: str, key: str | None, log: Any) -> tuple[str, list] | str:
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        return "Invalid JSON payload received: expected {'batch': {...}}"
    source = batch.get("inputConfig") or {}
    if isinstance(source, dict) and source.get("fileName"):
        return "the simulator supports inlined requests only (inputConfig.requests), not fileName"
    requests = (source.get("requests") or {}).get("requests") if isinstance(source, dict) else None
    if not isinstance(requests, list) or not requests:
        return "* BatchGenerateContentRequest.batch.input_config: requests are not specified"
    lines: list[tuple[SimCall | str, Any]] = []
    for item in requests:
        request = item.get("request") if isinstance(item, dict) else None
        if isinstance(request, dict):
            log.received.append(request)
        line_model = request.get("model", model) if isinstance(request, dict) else model
        metadata = item.get("metadata") if isinstance(item, dict) else None
        call = parse_call(request, str(line_model), key)
        lines.append((replace(call, wire=LINE_WIRE) if isinstance(call, SimCall) else call, metadata))
    return str(batch.get("displayName") or ""), lines


def routes(state: SimulatorState) -> list[Route]:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    jobs = batch_jobs(state)

    async def auth_failure(request: Request, model: str = "") -> Any:
        key = api_key(request)
        fault = state.check_key(key)
        if fault is None:
            return None
        state.stats.rejected(fault.kind)
        return await render_fault(fault, SimCall(JOB_WIRE, model, (), key))

    async def create(request: Request) -> Any:
        model = request.path_params["model"]
        if (denied := await auth_failure(request, model)) is not None:
            return denied
        parsed = _parse_batch(await read_json(request), model, api_key(request), wire_log(state))
        if isinstance(parsed, str):
            return error_response(400, parsed)
        jobs.created += 1
        name = f"batches/gemini-{uuid.uuid4().hex[:16]}"
        job = SimBatchJob(name, model.removeprefix("models/"), parsed[0], parsed[1])
        jobs.jobs[name] = job
        job.task = asyncio.get_running_loop().create_task(_run(state, jobs, job, api_key(request)))
        return JSONResponse(job.resource())

    def find(request: Request) -> SimBatchJob | None:
        return jobs.jobs.get(f"batches/gemini-{request.path_params['job']}")

    async def get(request: Request) -> Any:
        if (denied := await auth_failure(request)) is not None:
            return denied
        job = find(request)
        if job is None:
            return error_response(404, f"Batch batches/gemini-{request.path_params['job']} not found.")
        if request.method == "DELETE":
            jobs.jobs.pop(job.name, None)
            return JSONResponse({})
        return JSONResponse(job.resource())

    async def cancel(request: Request) -> Any:
        if (denied := await auth_failure(request)) is not None:
            return denied
        job = find(request)
        if job is None:
            return error_response(404, f"Batch batches/gemini-{request.path_params['job']} not found.")
        if job.state not in DONE_STATES:
            job.set_state("CANCELLED")
        return JSONResponse({})

    result = []
    for v in VERSIONS:
        result += [
            Route(f"/{v}/models/{{model}}:batchGenerateContent", create, methods=["POST"]),
            Route(f"/{v}/batches/gemini-{{job}}:cancel", cancel, methods=["POST"]),
            Route(f"/{v}/batches/gemini-{{job}}", get, methods=["GET", "DELETE"]),
        ]
    return result
