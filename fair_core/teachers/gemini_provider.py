"""Gemini teacher provider through the google-genai SDK (`client.aio.models.generate_content`)."""

from __future__ import annotations

import importlib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fair_core.records import Message
from fair_core.teachers.base import (
    ChatRequest,
    ChatResponse,
    ProviderError,
    ProviderSetupError,
    ResponseStatus,
    require_sdk,
)
from fair_core.teachers.keys import redact
from fair_core.teachers.loop_client import LoopClient
from fair_core.teachers.openai_provider import parse_retry_after

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

#: A candidate ending for one of these reasons was blocked by a filter: the reply is `refused`.
REFUSED_FINISH = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "MODEL_ARMOR"}
)
#: Gemini finish reasons in the words the other providers use; the rest are lower-cased.
FINISH_NAMES = {"STOP": "stop", "MAX_TOKENS": "length"}
RETRYABLE_CODES = frozenset({408, 409, 429, 499})
#: 404: the model does not exist (or was retired): no request to this teacher can work.
FATAL_CODES = frozenset({401, 403, 404})
#: FAILED_PRECONDITION: e.g. "User location is not supported", billing not enabled.
FATAL_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "FAILED_PRECONDITION"})
#: ErrorInfo reasons of a 400 that mean the key itself is bad (Google answers 400, not 401).
FATAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})


def _type_suffix(detail: Mapping[str, Any]) -> str:
    return str(detail.get("@type", "")).rsplit(".", 1)[-1]


def error_details(body: Any) -> list[Mapping[str, Any]]:
    """The `details` entries (google.rpc RetryInfo, ErrorInfo, ...) of an error body, [] if none."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error", body) if isinstance(body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def parse_retry_delay(details: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds from a RetryInfo `retryDelay` such as "37s" or "1.5s"; None if absent or unreadable."""
    for detail in details:
        if _type_suffix(detail) == "RetryInfo":
            raw = detail.get("retryDelay")
            try:
                return max(0.0, float(str(raw).strip().removesuffix("s")))
            except ValueError:
                return None
    return None


def safety_settings(settings: Mapping[str, str], types: Any, teacher: str = "") -> list[Any]:
    """`SafetySetting`s from config (harm category -> threshold); unknown names fail with the known ones."""
    categories = set(types.HarmCategory.__members__)
    thresholds = set(types.HarmBlockThreshold.__members__)
    result = []
    for raw_category, raw_threshold in settings.items():
        category = raw_category.strip().upper()
        if category not in categories and f"HARM_CATEGORY_{category}" in categories:
            category = f"HARM_CATEGORY_{category}"
        threshold = str(raw_threshold).strip().upper()
        where = f"teacher {teacher!r}: safety_settings" if teacher else "safety_settings"
        if category not in categories:
            known = ", ".join(sorted(categories))
            raise ProviderSetupError(f"{where}: unknown harm category {raw_category!r} (known: {known})")
        if threshold not in thresholds:
            known = ", ".join(sorted(thresholds))
            raise ProviderSetupError(f"{where}: unknown threshold {raw_threshold!r} for {category} ({known})")
        result.append(types.SafetySetting(category=category, threshold=threshold))
    return result


def to_contents(messages: Sequence[Message], types: Any) -> tuple[str | None, list[Any]]:
    """System messages joined into the system instruction; user/assistant turns as user/model contents."""
    system = [m.content for m in messages if m.role == "system"]
    contents: list[Any] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        part = types.Part(text=message.content)
        if contents and contents[-1].role == role:  # Gemini wants turns to alternate: merge neighbours
            contents[-1].parts.append(part)
        else:
            contents.append(types.Content(role=role, parts=[part]))
    if not contents:
        raise ProviderError("invalid", "the request has only system messages; Gemini needs a user turn")
    return ("\n\n".join(system) if system else None), contents


def generate_config(request: ChatRequest, system: str | None, safety: list[Any], types: Any) -> Any:
    """The `GenerateContentConfig` of a request: sampling, one candidate, system instruction, safety."""
    return types.GenerateContentConfig(
        system_instruction=system,
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_tokens,
        candidate_count=1,
        seed=request.sample or None,  # distinct samples; sample 0 leaves the provider's default
        safety_settings=safety or None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def _name(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def to_chat_response(response: Any, latency_s: float, clean: Callable[[str], str]) -> ChatResponse:
    """A `GenerateContentResponse` as a ChatResponse: the first candidate's text, usage, refusals."""
    usage = getattr(response, "usage_metadata", None)
    prompt_tokens = int(getattr(usage, "prompt_token_count", 0) or 0)
    # thinking tokens are billed as output tokens
    completion_tokens = int(getattr(usage, "candidates_token_count", 0) or 0) + int(
        getattr(usage, "thoughts_token_count", 0) or 0
    )
    feedback = getattr(response, "prompt_feedback", None)
    blocked = _name(getattr(feedback, "block_reason", None))
    candidates = getattr(response, "candidates", None) or []
    if blocked:
        message = getattr(feedback, "block_reason_message", None) or ""
        error = clean(f"prompt blocked by the provider ({blocked}{': ' + message if message else ''})")
        return ChatResponse(
            None, "refused", error, prompt_tokens, completion_tokens, "content_filter", round(latency_s, 4)
        )
    if not candidates:
        dump = getattr(response, "model_dump", None)
        shown = dump(exclude_none=True, exclude={"sdk_http_response"}) if callable(dump) else response
        raise ProviderError("retryable", clean(f"malformed response without candidates: {shown!s:.200}"))
    candidate = candidates[0]
    finish = _name(getattr(candidate, "finish_reason", None))
    content = getattr(candidate, "content", None)
    parts = getattr(content, "parts", None) or []
    texts = [p.text for p in parts if isinstance(p.text, str) and not p.thought]  # thoughts: not the answer
    text = "".join(texts) if texts else None
    status: ResponseStatus = "ok"
    error: str | None = None
    if finish in REFUSED_FINISH:
        status, error = "refused", f"refused by the provider (finish_reason={finish})"
    elif not (text or "").strip():
        status, error = "refused", f"empty reply (finish_reason={finish})"
    return ChatResponse(
        text=text,
        status=status,
        error=clean(error) if error else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        finish_reason=FINISH_NAMES.get(finish, finish.lower()) if finish else None,
        latency_s=round(latency_s, 4),
    )


def classify_api_error(err: Any, where: str, clean: Callable[[str], str]) -> ProviderError:
    """A google.genai APIError (ClientError 4xx / ServerError 5xx) as a classified ProviderError."""
    code, status, body = getattr(err, "code", None), str(getattr(err, "status", None) or ""), err.details
    details = error_details(body)
    reasons = {str(d.get("reason")) for d in details if _type_suffix(d) == "ErrorInfo"}
    text = getattr(err, "message", None) or body or err
    message = clean(f"HTTP {code} {status}{where}: {text}".replace(" :", ":"))
    if not isinstance(code, int):
        return ProviderError("retryable", message)
    if code in FATAL_CODES or status in FATAL_STATUSES or reasons & FATAL_REASONS:
        return ProviderError("fatal", message, code)
    if code in RETRYABLE_CODES or code >= 500:
        response = getattr(err, "response", None)
        retry_after = parse_retry_delay(details)
        if retry_after is None:
            retry_after = parse_retry_after(getattr(response, "headers", None))
        return ProviderError("retryable", message, code, retry_after)
    return ProviderError("invalid", message, code)


class GeminiClients:
    """One `genai.Client` per event loop (its connections belong to the loop), SDK retries off."""

    def __init__(self, api_key: str, base_url: str | None, timeout_s: float, api_version: str | None):
        self.genai = require_sdk("google.genai", "google-genai", "gemini")
        self.types = self.genai.types
        self.errors = require_sdk("google.genai.errors", "google-genai", "gemini")
        self._api_key, self.base_url, self.timeout_s = api_key, base_url, timeout_s
        self.api_version = api_version
        self._sdk: LoopClient[Any] = LoopClient(self._make_client)
        self.timeouts: tuple[type[BaseException], ...] = (TimeoutError,)
        self.transport: tuple[type[BaseException], ...] = (ConnectionError,)
        # the SDK sends through httpx, its fork httpx2, or aiohttp: whichever is installed
        for name, timeout, transport in (
            ("httpx", "TimeoutException", "TransportError"),
            ("httpx2", "TimeoutException", "TransportError"),
            ("aiohttp", "ServerTimeoutError", "ClientError"),
        ):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            self.timeouts += (getattr(module, timeout),)
            self.transport += (getattr(module, transport),)

    def clean(self, text: str) -> str:
        return redact(text, [self._api_key])

    def where(self) -> str:
        return f" at {self.base_url}" if self.base_url else ""

    def _make_client(self) -> Any:
        types = self.types
        tls: dict[str, Any] = {}
        if (self.base_url or "").startswith("http://"):  # no TLS: skip loading CA bundles (~0.3 s)
            none = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts no CA: would refuse any TLS peer
            tls = {"client_args": {"verify": none}, "async_client_args": {"verify": none, "ssl": none}}
        options = types.HttpOptions(
            base_url=self.base_url,
            api_version=self.api_version,
            timeout=max(1, int(self.timeout_s * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),  # one retry policy: the engine's
            **tls,
        )
        return self.genai.Client(vertexai=False, api_key=self._api_key, http_options=options)

    def for_loop(self) -> Any:
        return self._sdk.get()

    def classify(self, err: BaseException) -> ProviderError:
        """Any exception of an SDK call as a ProviderError; an unknown one is `invalid` (not retried)."""
        if isinstance(err, self.errors.APIError):
            return classify_api_error(err, self.where(), self.clean)
        if isinstance(err, self.timeouts):
            return ProviderError("retryable", f"request timed out after {self.timeout_s:g}s{self.where()}")
        if isinstance(err, self.transport):
            return ProviderError("retryable", self.clean(f"connection failed{self.where()}: {err!r}"))
        if isinstance(err, ValueError):  # a body that is not JSON, or JSON of the wrong shape
            return ProviderError("retryable", self.clean(f"malformed response body{self.where()}: {err}"))
        return ProviderError("invalid", self.clean(f"unexpected {type(err).__name__}{self.where()}: {err}"))

    async def aclose(self) -> None:
        client, own = self._sdk.release()
        if client is None:
            return
        if own:  # another loop's connections cannot be closed from here
            await client.aio.aclose()
        client.close()


class GeminiEndpoint:
    """The online and batch providers' shared part: per-loop clients, safety settings, the teacher's name."""

    default_teacher = ""  # the name in error messages when `teacher` is None

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        safety: Mapping[str, str] | None = None,
        api_version: str | None = None,
        teacher: str | None = None,
    ) -> None:
        self._clients = GeminiClients(api_key, base_url, timeout_s, api_version)
        self.base_url, self.timeout_s = base_url, timeout_s
        self.teacher = self.default_teacher if teacher is None else teacher
        self.safety = safety_settings(safety or {}, self._clients.types, self.teacher)

    async def aclose(self) -> None:
        await self._clients.aclose()


class GeminiProvider(GeminiEndpoint):
    """`generate_content` through the official SDK; the SDK client is made lazily per event loop."""

    def __repr__(self) -> str:  # never show the key
        return f"GeminiProvider(base_url={self.base_url!r}, timeout_s={self.timeout_s})"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        types = self._clients.types
        system, contents = to_contents(request.messages, types)
        config = generate_config(request, system, self.safety, types)
        started = time.perf_counter()
        try:
            client = self._clients.for_loop()
            response = await client.aio.models.generate_content(
                model=request.model, contents=contents, config=config
            )
        except Exception as err:
            raise self._clients.classify(err) from None
        return to_chat_response(response, time.perf_counter() - started, self._clients.clean)


def create_provider(cfg: TeacherConfig, api_key: str) -> GeminiProvider:
    return GeminiProvider(api_key, cfg.base_url, cfg.timeout_s, cfg.safety_settings, teacher=cfg.name)
