"""Mistral teacher provider through the official `mistralai` SDK (`chat.complete_async`), SDK retries off."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, ResponseStatus, require_sdk
from fair_core.teachers.keys import redact
from fair_core.teachers.loop_client import LoopClient
from fair_core.teachers.openai_provider import chat_body as openai_chat_body
from fair_core.teachers.openai_provider import parse_retry_after

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
FATAL_STATUS = frozenset({401, 403})
#: Finish reasons meaning a moderation filter stopped the reply (Mistral's own are stop, length,
#: model_length, error, tool_calls; guardrails and compatible servers may say these).
REFUSED_FINISH = frozenset({"content_filter", "moderation", "guardrail", "safety"})
_TIMEOUT_ERRORS = frozenset({"TimeoutException"})
_TRANSPORT_ERRORS = frozenset({"TransportError", "NetworkError", "RequestError"})


def server_url(base_url: str | None) -> str | None:
    """The SDK's `server_url` for a teacher's base_url; a trailing /v1 is dropped (the SDK adds it)."""
    if not base_url:
        return None
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def chat_body(request: ChatRequest) -> dict[str, Any]:
    """The chat-completions JSON of a request without the model (batch lines carry it at the job level):
    the OpenAI body, with Mistral's `random_seed` for distinct samples."""
    body = openai_chat_body(request)
    del body["model"]
    if "seed" in body:
        body["random_seed"] = body.pop("seed")
    return body


def reply_text(content: Any) -> str | None:
    """The text of an assistant message: a string, or the text chunks of a list (thinking chunks skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [getattr(c, "text", None) for c in content if getattr(c, "type", None) == "text"]
        return "".join(p for p in parts if isinstance(p, str))
    return None


def to_chat_response(completion: Any, latency_s: float, redact_text: Callable[[str], str]) -> ChatResponse:
    """A `ChatCompletionResponse` as a ChatResponse: refused when filtered or empty; raises when unusable."""
    choices = getattr(completion, "choices", None)
    message = getattr(choices[0], "message", None) if choices else None
    if message is None:
        shown = redact_text(repr(completion)[:200])
        raise ProviderError("retryable", f"malformed response without a message: {shown}")
    choice = choices[0]
    finish = str(choice.finish_reason) if choice.finish_reason is not None else None
    if finish == "error":
        raise ProviderError("retryable", "the model stopped with finish_reason=error")
    text = reply_text(message.content)
    usage = getattr(completion, "usage", None)
    status: ResponseStatus = "ok"
    error: str | None = None
    if finish in REFUSED_FINISH:
        status, error = "refused", f"refused by the provider ({finish})"
    elif not (text or "").strip():
        status, error = "refused", f"empty reply (finish_reason={finish})"
    return ChatResponse(
        text=text,
        status=status,
        error=error,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        finish_reason=finish,
        latency_s=round(latency_s, 4),
    )


def error_summary(body: str | None) -> str:
    """The message in a Mistral error body ({"message": ...} or a 422 {"detail": [...]}), else the body."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return (body or "").strip()[:300] or "(empty body)"
    if isinstance(data, dict):
        if isinstance(data.get("message"), str):
            return data["message"]
        detail = data.get("detail")
        if isinstance(detail, list):
            return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)[:300]
        if isinstance(detail, str):
            return detail
    return str(data)[:300]


class _RedactingLogger:
    """The SDK's debug logger: only with MISTRAL_DEBUG set (as the SDK does), keys blanked from every line."""

    def __init__(self, secrets: list[str]) -> None:
        self._secrets = secrets
        self._logger = logging.getLogger("mistralai.client")

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if not os.getenv("MISTRAL_DEBUG") or not self._logger.isEnabledFor(logging.DEBUG):
            return
        try:
            text = msg % args if args else msg
        except (TypeError, ValueError):
            text = " ".join([msg, *map(str, args)])
        if kwargs.get("exc_info"):
            import traceback

            text += "\n" + traceback.format_exc()
        self._logger.debug("%s", redact(text, self._secrets))


class MistralClient:
    """What the online and batch providers share: one SDK client per event loop, error mapping, redaction.

    SDK retries are off (`RetryConfig("none", ...)`): the engine has the one retry policy. The client is
    created lazily per event loop, so the provider survives `asyncio.run` being called again; `aclose`
    releases the current one and the provider stays usable.
    """

    def __init__(self, api_key: str, base_url: str | None = None, timeout_s: float = 120.0) -> None:
        self._mistral = require_sdk("mistralai.client", "mistralai", "mistral")
        self._errors = require_sdk("mistralai.client.errors", "mistralai", "mistral")
        self._api_key = api_key
        self.server_url = server_url(base_url)
        self.timeout_s = timeout_s
        self._sdk: LoopClient[Any] = LoopClient(self._make_client)

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(server_url={self.server_url!r}, timeout_s={self.timeout_s})"

    @property
    def timeout_ms(self) -> int:
        return max(1, int(self.timeout_s * 1000))

    def _make_client(self) -> Any:
        utils = require_sdk("mistralai.client.utils", "mistralai", "mistral")
        no_retries = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1.0, 1), False)
        return self._mistral.Mistral(
            api_key=self._api_key,
            server_url=self.server_url,
            retry_config=no_retries,
            timeout_ms=self.timeout_ms,
            debug_logger=_RedactingLogger([self._api_key]),
        )

    def _client_for_loop(self) -> Any:
        return self._sdk.get()

    def _redact(self, text: str) -> str:
        return redact(text, [self._api_key])

    def classify(self, err: BaseException) -> ProviderError:
        """The ProviderError kind of an exception raised by an SDK call (message redacted)."""
        errors = self._errors
        where = f" at {self.server_url}" if self.server_url else ""
        if isinstance(err, ProviderError):
            return err
        if isinstance(err, errors.ResponseValidationError):
            return ProviderError("retryable", self._redact(f"malformed response{where}: {err}"[:500]))
        if isinstance(err, errors.MistralError):
            status = err.status_code
            message = self._redact(f"HTTP {status}{where}: {error_summary(err.body)}")
            if status in FATAL_STATUS:
                return ProviderError("fatal", message, status)
            if status in RETRYABLE_STATUS or status >= 500:
                return ProviderError("retryable", message, status, parse_retry_after(err.headers))
            return ProviderError("invalid", message, status)
        if isinstance(err, errors.NoResponseError):
            return ProviderError("retryable", f"no response{where}")
        names = {cls.__name__ for cls in type(err).__mro__}
        if names & _TIMEOUT_ERRORS:
            return ProviderError("retryable", f"request timed out after {self.timeout_s:g}s{where}")
        if names & _TRANSPORT_ERRORS:
            return ProviderError("retryable", self._redact(f"connection failed{where}: {err!r}"))
        return ProviderError("invalid", self._redact(f"Mistral client error: {type(err).__name__}: {err}"))

    async def aclose(self) -> None:
        client, own = self._sdk.release()
        if own:
            await client.__aexit__(None, None, None)


class MistralProvider(MistralClient):
    """Chat completions for one Mistral teacher (`TeacherProvider`); never retries itself."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        try:
            completion = await self._client_for_loop().chat.complete_async(
                model=request.model, **chat_body(request), timeout_ms=self.timeout_ms
            )
        except Exception as err:
            raise self.classify(err) from None
        return to_chat_response(completion, time.perf_counter() - started, self._redact)


def create_provider(cfg: TeacherConfig, api_key: str) -> MistralProvider:
    return MistralProvider(api_key=api_key, base_url=cfg.base_url, timeout_s=cfg.timeout_s)
