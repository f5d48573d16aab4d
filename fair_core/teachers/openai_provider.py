"""OpenAI-compatible teacher provider (OpenAI, DeepInfra, vLLM, Ollama, the simulator) via AsyncOpenAI."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fair_core.teachers.base import (
    ChatRequest,
    ChatResponse,
    ErrorKind,
    ProviderError,
    ResponseStatus,
    require_sdk,
)
from fair_core.teachers.keys import redact
from fair_core.teachers.loop_client import LoopClient

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

RETRYABLE_STATUS = frozenset({408, 409, 429})
FATAL_STATUS = frozenset({401, 403})
#: Error codes meaning "never going to work" although the status says retry (429 for an exhausted quota).
FATAL_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "invalid_api_key"})
REFUSED_CODES = frozenset({"content_filter", "content_policy_violation"})

T = TypeVar("T")


#: OpenAI reasoning models refuse `max_tokens` and take `max_completion_tokens` (reasoning included).
REASONING_PREFIXES = ("gpt-5", "o1", "o3", "o4")


def chat_body(request: ChatRequest) -> dict[str, Any]:
    """The chat.completions body for `request` (online calls and batch lines send the same one)."""
    reasoning = request.model.removeprefix("openai/").startswith(REASONING_PREFIXES)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "max_completion_tokens" if reasoning else "max_tokens": request.max_tokens,
    }
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.sample:
        body["seed"] = request.sample  # distinct samples; sample 0 leaves the provider's default
    return body


def error_kind(status: int | None, code: str | None = None) -> ErrorKind:
    """How an HTTP error status (and OpenAI error code) is handled: retryable, invalid, fatal or refused."""
    if status is None:
        return "retryable"
    if (code or "") in FATAL_CODES or status in FATAL_STATUS:
        return "fatal"
    if (code or "") in REFUSED_CODES:
        return "refused"
    if status in RETRYABLE_STATUS or status >= 500:
        return "retryable"
    return "invalid"


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date; None if absent."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class OpenAIProvider:
    """Chat completions through the official SDK with its own retries off (the engine has the one policy).

    The SDK client is created lazily per event loop, so the provider survives `asyncio.run` being called
    again (e.g. by `run_requests_sync`); `aclose` releases the current client and the provider stays usable.
    """

    def __init__(self, api_key: str, base_url: str | None = None, timeout_s: float = 120.0) -> None:
        self._openai = require_sdk("openai", "openai", None)
        self._api_key = api_key
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._sdk: LoopClient[Any] = LoopClient(self._make_client)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIProvider(base_url={self.base_url!r}, timeout_s={self.timeout_s})"

    def _make_client(self) -> Any:
        return self._openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout_s
        )

    def client(self) -> Any:
        """The SDK client of the running event loop (created on first use in that loop)."""
        return self._sdk.get()

    def redact(self, text: str) -> str:
        return redact(text, [self._api_key])

    async def call(self, send: Callable[[Any], Awaitable[T]]) -> T:
        """`send(client)` with every SDK failure turned into a classified, redacted `ProviderError`."""
        try:
            return await send(self.client())
        except self._openai.APIError as err:
            raise self.classify(err) from None
        except self._openai.OpenAIError as err:  # client-side setup, e.g. no credentials
            raise ProviderError("fatal", self.redact(f"OpenAI client error: {err}")) from None
        except ValueError as err:  # a body that is not JSON
            raise ProviderError("retryable", self.redact(f"malformed response body: {err}")) from None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = chat_body(request)
        started = time.perf_counter()
        completion = await self.call(lambda client: client.chat.completions.create(**body))
        return self.to_response(completion, time.perf_counter() - started)

    def classify(self, err: Any) -> ProviderError:
        sdk = self._openai
        where = f" at {self.base_url}" if self.base_url else ""
        if isinstance(err, sdk.APITimeoutError):
            return ProviderError("retryable", f"request timed out after {self.timeout_s:g}s{where}")
        if isinstance(err, sdk.APIConnectionError):
            return ProviderError("retryable", self.redact(f"connection failed{where}: {err}"))
        status = getattr(err, "status_code", None)
        code = str(getattr(err, "code", None) or "")
        message = self.redact(f"HTTP {status}{where}: {getattr(err, 'message', err)}")
        if isinstance(err, sdk.APIResponseValidationError):
            return ProviderError("retryable", self.redact(f"malformed response{where}: {err}"), status)
        kind = error_kind(status, code)
        if kind == "retryable" and status is not None:
            response = getattr(err, "response", None)
            retry_after = parse_retry_after(getattr(response, "headers", None))
            return ProviderError("retryable", message, status, retry_after)
        return ProviderError(kind, message, status)

    def to_response(self, completion: Any, latency_s: float) -> ChatResponse:
        """A ChatResponse from a chat.completion (SDK object): ok, or refused on a content filter / empty."""
        choices = getattr(completion, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            shown = self.redact(repr(completion)[:200])
            raise ProviderError("retryable", f"malformed response without choices: {shown}")
        choice = choices[0]
        text = choice.message.content
        usage = getattr(completion, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        finish = choice.finish_reason
        refusal = getattr(choice.message, "refusal", None)
        status: ResponseStatus = "ok"
        error: str | None = None
        if finish == "content_filter" or refusal:
            status, error = "refused", f"refused by the provider ({refusal or 'content_filter'})"
        elif not (text or "").strip():
            status, error = "refused", f"empty reply (finish_reason={finish})"
        return ChatResponse(
            text=text,
            status=status,
            error=self.redact(error) if error else None,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish,
            latency_s=round(latency_s, 4),
        )

    async def aclose(self) -> None:
        client, own = self._sdk.release()
        if own:
            await client.close()


def create_provider(cfg: TeacherConfig, api_key: str) -> OpenAIProvider:
    return OpenAIProvider(api_key=api_key, base_url=cfg.base_url, timeout_s=cfg.timeout_s)
