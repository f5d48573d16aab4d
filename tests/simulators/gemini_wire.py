"""Gemini wire of the simulator: POST /{v1,v1beta}/models/<model>:generateContent in Gemini's JSON and errors.

The key comes from the `x-goog-api-key` header (what google-genai sends) or the `key` query parameter. Every
`SimFault` kind is rendered as the Gemini API would answer: auth (401 UNAUTHENTICATED / 403
PERMISSION_DENIED / 400 API_KEY_INVALID, by the fault's status; 403 without a key), rate_limit (429
RESOURCE_EXHAUSTED with RetryInfo and Retry-After), 5xx, a hang then 504, a dropped connection, a malformed
or empty body, an empty reply, and safety (finishReason SAFETY without text; a message starting with
"prompt" blocks the prompt instead, through promptFeedback). `wire_log(state).received`: the last bodies.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fair_core.records import Message
from fair_core.teachers.simulator.protocol import SimCall, SimFault
from fair_core.teachers.simulator.teacher import SimReply, count_words

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from fair_core.teachers.simulator.protocol import SimulatorState

WIRE = "gemini"
PROVIDERS = ("gemini",)
VERSIONS = ("v1", "v1beta")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
#: google.rpc.Code numbers, as a batch line's error (a google.rpc.Status) carries them.
GRPC_CODES = {
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}
HARM_CATEGORIES = frozenset(
    {
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    }
)
THRESHOLDS = frozenset(
    {"HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH"}
    | {"BLOCK_NONE", "OFF"}
)
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_RPC = "type.googleapis.com/google.rpc."


@dataclass
class WireLog:
    """What reached the Gemini wire: the last request bodies (generateContent and batch lines)."""

    received: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))


_LOGS: weakref.WeakKeyDictionary[SimulatorState, WireLog] = weakref.WeakKeyDictionary()


def wire_log(state: SimulatorState) -> WireLog:
    return _LOGS.setdefault(state, WireLog())


def api_key(request: Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key") or None


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Google API error: {"error": {"code", "message", "status", "details"}}."""
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name(status)}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse(error_body(status, message, details), status_code=status)


def _text_parts(raw: Any) -> str | None:
    parts = raw.get("parts") if isinstance(raw, dict) else None
    if not isinstance(parts, list) or not parts:
        return None
    texts = [p.get("text") for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return "".join(texts) if len(texts) == len(parts) else None


def _check_safety(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        return "Invalid value at 'safety_settings': expected a list"
    for i, setting in enumerate(raw):
        category = setting.get("category") if isinstance(setting, dict) else None
        threshold = setting.get("threshold") if isinstance(setting, dict) else None
        if category not in HARM_CATEGORIES:
            return f"Invalid value at 'safety_settings[{i}].category' ({category!r})"
        if threshold not in THRESHOLDS:
            return f"Invalid value at 'safety_settings[{i}].threshold' ({threshold!r})"
    return None


def parse_call(body: Any, model: str, key: str | None) -> SimCall | str:
    """The call in a generateContent body (online, or one batch line's `request`), or why it is invalid."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received: the request body must be a JSON object."
    raw_contents = body.get("contents")
    if not isinstance(raw_contents, list) or not raw_contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    messages: list[Message] = []
    if body.get("systemInstruction") is not None:
        system = _text_parts(body["systemInstruction"])
        if system is None:
            return "Invalid value at 'system_instruction': expected text parts"
        messages.append(Message("system", system))
    for i, content in enumerate(raw_contents):
        text = _text_parts(content)
        role = content.get("role", "user") if isinstance(content, dict) else None
        if text is None or role not in ("user", "model"):
            return f"Invalid value at 'contents[{i}]': expected role user or model and text parts"
        messages.append(Message("assistant" if role == "model" else "user", text))
    problem = _check_safety(body.get("safetySettings"))
    if problem:
        return problem
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        return "Invalid value at 'generation_config'"
    max_tokens, seed = config.get("maxOutputTokens"), config.get("seed")
    return SimCall(
        wire=WIRE,
        model=model.removeprefix("models/"),
        messages=tuple(messages),
        api_key=key,
        sample=int(seed) if isinstance(seed, int) else 0,
        max_tokens=int(max_tokens) if isinstance(max_tokens, int) else None,
    )


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": completion_tokens,
        "totalTokenCount": prompt_tokens + completion_tokens,
    }


def reply_body(model: str, text: str | None, finish: str, prompt_tokens: int, completion_tokens: int) -> dict:
    """A GenerateContentResponse with one candidate (no `content` when `text` is None)."""
    candidate: dict[str, Any] = {"finishReason": finish, "index": 0}
    if text is not None:
        candidate["content"] = {"parts": [{"text": text}], "role": "model"}
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(prompt_tokens, completion_tokens),
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:22],
    }


def sim_reply_body(model: str, reply: SimReply) -> dict[str, Any]:
    finish = "MAX_TOKENS" if reply.finish_reason == "length" else "STOP"
    return reply_body(model, reply.text, finish, reply.prompt_tokens, reply.completion_tokens)


def _safety_body(fault: SimFault, call: SimCall | None) -> dict[str, Any]:
    model = call.model if call else ""
    prompt_tokens = sum(count_words(m.content) for m in call.messages) if call else 0
    ratings = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
    if fault.message.lower().startswith("prompt"):
        return {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings},
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
            "modelVersion": model,
        }
    body = reply_body(model, None, "SAFETY", prompt_tokens, 0)
    body["candidates"][0]["safetyRatings"] = ratings
    return body


def fault_payload(fault: SimFault, call: SimCall | None) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of a fault (a batch line turns the non-200 ones into a line error)."""
    if fault.kind == "auth":
        if call is not None and not call.api_key:  # Google answers a request without a key with 403
            return 403, error_body(403, NO_KEY)
        info = {"@type": f"{_RPC}ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}
        return fault.status or 401, error_body(fault.status or 401, fault.message, [info])
    if fault.kind == "rate_limit":
        details = None
        if fault.retry_after is not None:
            details = [{"@type": f"{_RPC}RetryInfo", "retryDelay": f"{fault.retry_after:g}s"}]
        return fault.status or 429, error_body(fault.status or 429, fault.message, details)
    if fault.kind == "timeout":
        return fault.status or 504, error_body(fault.status or 504, fault.message)
    if fault.kind == "safety":
        return 200, _safety_body(fault, call)
    if fault.kind == "empty":
        return 200, reply_body(call.model if call else "", "", "STOP", 0, 0)
    return fault.status or 500, error_body(fault.status or 500, fault.message)


class _DroppedResponse:
    """Headers promising a body that never fully arrives; the server then closes the connection."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"candidates": [', "more_body": True})


async def render_fault(fault: SimFault, call: SimCall | None) -> Any:
    from starlette.responses import JSONResponse, Response

    if fault.kind == "timeout":
        await asyncio.sleep(fault.delay_s)
    if fault.kind == "drop":
        return _DroppedResponse()
    if fault.kind == "malformed":
        return Response(b'{"candidates": [{"content": ', status_code=200, media_type="application/json")
    if fault.kind == "empty_body":
        return Response(b"", status_code=200, media_type="application/json")
    headers = None
    if fault.kind == "rate_limit" and fault.retry_after is not None:
        headers = {"retry-after": str(math.ceil(fault.retry_after))}
    status, body = fault_payload(fault, call)
    return JSONResponse(body, status_code=status, headers=headers)


async def read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def routes(state: SimulatorState) -> list[Route]:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def generate_content(request: Request) -> Any:
        key, model = api_key(request), request.path_params["model"]
        body = await read_json(request)
        if isinstance(body, dict):
            wire_log(state).received.append(body)
        call = parse_call(body, model, key)
        if isinstance(call, str):
            fault = state.check_key(key)
            state.stats.rejected(fault.kind if fault else "invalid")
            if fault is not None:
                return await render_fault(fault, SimCall(WIRE, model, (), key))
            return error_response(400, call)
        outcome = await state.handle(call)
        if isinstance(outcome, SimFault):
            return await render_fault(outcome, call)
        return JSONResponse(sim_reply_body(call.model, outcome))

    return [
        Route(f"/{version}/models/{{model}}:generateContent", generate_content, methods=["POST"])
        for version in VERSIONS
    ]
