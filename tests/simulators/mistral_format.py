"""Mistral's chat JSON for the simulator: parsing, replies and errors (for the wire and the jobs)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import uuid
from typing import TYPE_CHECKING, Any

from fair_core.teachers.simulator import openai_wire
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from fair_core.teachers.simulator.teacher import SimReply

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from fair_core.teachers.simulator.protocol import SimulatorState

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
