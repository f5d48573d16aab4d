"""OpenAI wire of the simulator: POST /v1/chat/completions, bodies and errors as the OpenAI API has them."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from fair_core.records import Message
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from fair_core.teachers.simulator.teacher import SimReply

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from fair_core.teachers.simulator.protocol import SimulatorState

WIRE = "openai"
PROVIDERS = ("openai",)
_ROLES = ("system", "user", "assistant", "developer")


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error object, as an error response (and a failed batch line) carries it."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _error(status: int, message: str, type_: str, code: str | None = None, headers: Any = None) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(error_body(message, type_, code), status_code=status, headers=headers)


def bearer_key(request: Request) -> str | None:
    """The API key of an `Authorization: Bearer <key>` header, or None."""
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def _content(raw: Any) -> str | None:
    """Message content: a string or a list of {"type": "text", "text": ...} parts."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        parts = [p.get("text") for p in raw if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts):
            return "\n".join(parts)
    return None


def parse_call(body: Any, api_key: str | None) -> SimCall | str:
    """The call in a chat.completions body, or why it is invalid."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    model, raw_messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        return "you must provide a model parameter"
    if not isinstance(raw_messages, list) or not raw_messages:
        return "'messages' must be a non-empty array"
    messages = []
    for i, m in enumerate(raw_messages):
        content = _content(m.get("content")) if isinstance(m, dict) else None
        if content is None or m.get("role") not in _ROLES:
            return f"invalid message at messages[{i}]"
        role = "system" if m["role"] == "developer" else m["role"]
        messages.append(Message(role, content))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    seed = body.get("seed")
    return SimCall(
        wire=WIRE,
        model=model,
        messages=tuple(messages),
        api_key=api_key,
        sample=int(seed) if isinstance(seed, int) else 0,
        max_tokens=int(max_tokens) if isinstance(max_tokens, int) else None,
    )


def completion_body(
    model: str, text: str | None, finish_reason: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fair-simulator",
    }


class _DroppedResponse:
    """Headers promising a body that never fully arrives; the server then closes the connection."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True})


def fault_payload(fault: SimFault, model: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of a fault; a batch line stores these (a broken transport there is a 500)."""
    if fault.kind == "auth":
        return fault.status or 401, error_body(fault.message, "invalid_request_error", "invalid_api_key")
    if fault.kind == "rate_limit":
        return fault.status or 429, error_body(fault.message, "requests", "rate_limit_exceeded")
    if fault.kind == "timeout":
        return fault.status or 504, error_body(fault.message, "server_error")
    if fault.kind == "safety":
        return 200, completion_body(model, None, "content_filter", 0, 0)
    if fault.kind == "empty":
        return 200, completion_body(model, "", "stop", 0, 0)
    return fault.status or 500, error_body(fault.message, "server_error")


async def render_fault(fault: SimFault, model: str) -> Any:
    from starlette.responses import JSONResponse, Response

    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay_s)
    if fault.kind == "drop":
        return _DroppedResponse()
    if fault.kind == "malformed":
        return Response(b'{"id": "chatcmpl-x", "choices": [', status_code=200, media_type="application/json")
    if fault.kind == "empty_body":
        return Response(b"", status_code=200, media_type="application/json")
    headers = None
    if fault.kind == "rate_limit" and fault.retry_after is not None:
        headers = {"retry-after": str(math.ceil(fault.retry_after))}
    status, body = fault_payload(fault, model)
    return JSONResponse(body, status_code=status, headers=headers)


def _json(body: dict[str, Any]) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(body)


def routes(state: SimulatorState) -> list[Route]:
    from starlette.routing import Route

    async def chat_completions(request: Request) -> Any:
        api_key = bearer_key(request)
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        call = parse_call(body, api_key)
        if isinstance(call, str):
            fault = state.check_key(api_key)
            state.stats.rejected(fault.kind if fault else "invalid")
            if fault is not None:
                return await render_fault(fault, "")
            return _error(400, call, "invalid_request_error")
        outcome = await state.handle(call)
        if isinstance(outcome, SimFault):
            return await render_fault(outcome, call.model)
        reply: SimReply = outcome
        return _json(
            completion_body(
                call.model, reply.text, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens
            )
        )

    return [Route("/v1/chat/completions", chat_completions, methods=["POST"])]
