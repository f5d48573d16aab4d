"""Mistral wire of the simulator, under /mistral: chat completions, files and batch jobs in Mistral's JSON.

`Mistral(api_key=..., server_url=handle.mistral_url)` reaches it: the SDK posts to `/v1/chat/completions` and
`/v1/files` like OpenAI's, hence the prefix. Chat bodies share OpenAI's request parsing and reply layout
(`openai_wire`), minus OpenAI-only fields; errors are Mistral's `{"object": "error", "message", "type",
"param", "code"}` and FastAPI-style 422 `{"detail": [...]}`. Files and batch jobs live in `mistral_jobs`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import uuid
from typing import TYPE_CHECKING, Any

from fair_core.teachers.simulator import openai_wire
from fair_core.teachers.simulator.server import SimCall, SimFault
from fair_core.teachers.simulator.teacher import SimReply

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from fair_core.teachers.simulator.server import SimulatorState

PREFIX = "/mistral"
WIRE = "mistral"


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


def error_response(status: int, message: str, type_: str, code: str | None = None) -> Response:
    return json_response(error_body(message, type_, code), status)


def validation_error(message: str, loc: tuple[str, ...] = ("body",)) -> Response:
    """A 422 as Mistral's FastAPI front end sends it (the SDK raises HTTPValidationError)."""
    detail = [{"type": "value_error", "loc": list(loc), "msg": message, "input": None}]
    return json_response({"detail": detail}, 422)


def parse_call(body: Any, api_key: str | None, wire: str = WIRE) -> SimCall | str:
    """The call in a Mistral chat body (OpenAI's layout; the seed is `random_seed`), or why it is invalid."""
    if isinstance(body, dict):
        body = {**body, "seed": body.get("random_seed")}
    call = openai_wire.parse_call(body, api_key)
    return call if isinstance(call, str) else dataclasses.replace(call, wire=wire)


def completion_body(
    model: str, text: str | None, finish_reason: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """A Mistral chat.completion: OpenAI's layout without refusal, logprobs and system_fingerprint."""
    body = openai_wire.completion_body(model, text, finish_reason, prompt_tokens, completion_tokens)
    body["id"] = uuid.uuid4().hex
    body.pop("system_fingerprint", None)
    for choice in body["choices"]:
        choice.pop("logprobs", None)
        choice["message"].pop("refusal", None)
        choice["message"]["tool_calls"] = None
    return body


def reply_body(model: str, reply: SimReply) -> dict[str, Any]:
    return completion_body(
        model, reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens
    )


#: Faults of the transport rather than the payload; the same on every wire, so openai_wire renders them.
TRANSPORT_FAULTS = frozenset({"drop", "malformed", "empty_body"})


def fault_payload(fault: SimFault, model: str) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """Status, Mistral JSON body and headers of a fault answered with a payload (a batch line stores the first
    two). A `safety` block is a reply without content, `empty` one with empty content: both are refused."""
    if fault.kind == "safety":
        return 200, completion_body(model, None, "content_filter", 0, 0), None
    if fault.kind == "empty":
        return 200, completion_body(model, "", "stop", 0, 0), None
    if fault.kind == "auth":
        return fault.status or 401, error_body(fault.message, "invalid_request_error", "unauthorized"), None
    if fault.kind == "rate_limit":
        headers = (
            {"retry-after": str(math.ceil(fault.retry_after))} if fault.retry_after is not None else None
        )
        return fault.status or 429, error_body(fault.message, "rate_limited", "1300"), headers
    if fault.kind == "timeout":
        return fault.status or 504, error_body(fault.message, "timeout", "gateway_timeout"), None
    return fault.status or 500, error_body(fault.message, "internal_server_error", "3000"), None


async def render_fault(fault: SimFault, model: str) -> Any:
    if fault.kind in TRANSPORT_FAULTS:  # a cut connection, a truncated JSON body, a 200 without a body
        return await openai_wire.render_fault(fault, model)
    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay_s)
    status, body, headers = fault_payload(fault, model)
    return json_response(body, status, headers)


async def read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def reject(state: SimulatorState, api_key: str | None) -> SimFault | None:
    """Count a request refused before any call (bad body or key); the auth fault if the key is the cause."""
    fault = state.check_key(api_key)
    state.stats.rejected(fault.kind if fault else "invalid")
    return fault


def routes(state: SimulatorState) -> list[BaseRoute]:
    from starlette.responses import Response
    from starlette.routing import Route

    from fair_core.teachers.simulator import mistral_jobs

    jobs = mistral_jobs.MistralJobs(state)

    async def chat_completions(request: Request) -> Any:
        api_key = openai_wire.bearer_key(request)
        call = parse_call(await read_json(request), api_key)
        if isinstance(call, str):
            fault = reject(state, api_key)
            return await render_fault(fault, "") if fault else validation_error(call)
        outcome = await state.handle(call)
        if isinstance(outcome, SimFault):
            return await render_fault(outcome, call.model)
        return json_response(reply_body(call.model, outcome))

    def denied(request: Request) -> tuple[str | None, Any]:
        """The caller's key, and the 401 to send instead when it is missing or wrong."""
        key = openai_wire.bearer_key(request)
        fault = state.check_key(key)
        if fault is None:
            return key, None
        status, body, _ = fault_payload(fault, "")
        return key, json_response(body, status)

    def not_found(what: str, ident: str) -> Any:
        return error_response(404, f"{what} {ident} not found", "invalid_request_error", "not_found")

    async def upload(request: Request) -> Any:
        _, refused = denied(request)
        if refused is not None:
            return refused
        fields = mistral_jobs.parse_multipart(request.headers.get("content-type", ""), await request.body())
        if "file" not in fields:
            return validation_error("a multipart 'file' field is required", ("body", "file"))
        filename, data = fields["file"]
        purpose = fields.get("purpose", (None, b"fine-tune"))[1].decode() or "fine-tune"
        return json_response(jobs.add_file(filename or "upload.jsonl", data, purpose=purpose).to_json())

    async def file_info(request: Request) -> Any:
        _, refused = denied(request)
        stored = jobs.files.get(request.path_params["file_id"])
        if refused is not None or stored is None:
            return refused or not_found("file", request.path_params["file_id"])
        return json_response(stored.to_json())

    async def file_content(request: Request) -> Any:
        _, refused = denied(request)
        stored = jobs.files.get(request.path_params["file_id"])
        if refused is not None or stored is None:
            return refused or not_found("file", request.path_params["file_id"])
        return Response(stored.data, media_type="application/octet-stream")

    async def create_job(request: Request) -> Any:
        key, refused = denied(request)
        if refused is not None:
            return refused
        body = await read_json(request)
        if not isinstance(body, dict):
            return validation_error("the request body must be a JSON object")
        if body.get("endpoint") != mistral_jobs.ENDPOINT:
            message = f"endpoint {body.get('endpoint')!r} is not simulated (only {mistral_jobs.ENDPOINT})"
            return error_response(400, message, "invalid_request_error")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return error_response(400, "a model is required", "invalid_request_error")
        input_files = [str(f) for f in body.get("input_files") or []]
        lines: list[tuple[str | None, Any]] = []
        for file_id in input_files:
            if file_id not in jobs.files:
                return not_found("file", file_id)
            lines.extend(mistral_jobs.parse_lines(jobs.files[file_id].data))
        for row in body.get("requests") or []:
            if isinstance(row, dict):
                lines.append(
                    (row.get("custom_id"), row.get("body") if isinstance(row.get("body"), dict) else None)
                )
        if not lines:
            return error_response(400, "the batch has no requests", "invalid_request_error")
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else None
        job = mistral_jobs.SimJob(str(uuid.uuid4()), model, input_files, metadata, key, lines)
        jobs.start(job)
        return json_response(job.to_json())

    async def get_job(request: Request) -> Any:
        _, refused = denied(request)
        job = jobs.jobs.get(request.path_params["job_id"])
        if refused is not None or job is None:
            return refused or not_found("batch job", request.path_params["job_id"])
        return json_response(job.to_json())

    async def list_jobs(request: Request) -> Any:
        _, refused = denied(request)
        if refused is not None:
            return refused
        data = [job.to_json() for job in jobs.jobs.values()]
        return json_response({"object": "list", "data": data, "total": len(data)})

    async def cancel_job(request: Request) -> Any:
        _, refused = denied(request)
        job = jobs.jobs.get(request.path_params["job_id"])
        if refused is not None or job is None:
            return refused or not_found("batch job", request.path_params["job_id"])
        jobs.cancel(job)
        return json_response(job.to_json())

    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files/{file_id}", file_info, methods=["GET"]),
        Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
        Route("/v1/batch/jobs", create_job, methods=["POST"]),
        Route("/v1/batch/jobs", list_jobs, methods=["GET"]),
        Route("/v1/batch/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/v1/batch/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    ]
