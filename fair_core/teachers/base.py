"""Teacher call types: ChatRequest/ChatResponse, ProviderError, the TeacherProvider protocol, a factory."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from fair_core.hashing import canonical_json, stable_hash
from fair_core.identity import teacher_identity
from fair_core.records import Message

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

ResponseStatus = Literal["ok", "refused", "error", "fatal"]
ErrorKind = Literal["retryable", "invalid", "fatal", "refused"]

#: Bumped when the meaning of a cached reply changes, so old cache rows stop matching.
KEY_VERSION = 1

#: provider name -> module defining `create_provider(cfg, api_key) -> TeacherProvider`. A new provider is
#: one new module named here; it imports its SDK inside the implementation (see `require_sdk`).
PROVIDER_MODULES: dict[str, str] = {
    "openai": "fair_core.teachers.openai_provider",
    "gemini": "fair_core.teachers.gemini_provider",
    "mistral": "fair_core.teachers.mistral_provider",
    "replay": "fair_core.teachers.replay_provider",  # answered from a recording (TeacherCaller), never sent
}


def _known_fields(cls: type, data: str | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object's entries that are fields of `cls` (rows written by a newer version still load)."""
    raw = json.loads(data) if isinstance(data, str) else data
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


@dataclass(frozen=True)
class ChatRequest:
    """One chat call to one teacher; `sample` asks for a distinct sample of otherwise identical requests.

    `teacher` only routes the call to a provider: the cache key (`key()`) is the provider, model, messages,
    sampling parameters and sample number, so two teachers with the same identity share cached replies, and
    moving a teacher to another endpoint (base_url) keeps them.
    """

    teacher: str
    provider: str
    model: str
    messages: tuple[Message, ...]
    temperature: float = 0.8
    max_tokens: int = 512
    top_p: float | None = None
    sample: int = 0
    #: The teacher's safety settings (Gemini) as sorted (category, threshold) pairs; part of the key when set.
    safety: tuple[tuple[str, str], ...] = ()
    #: Who really answers when it is not the provider's model: the offline simulator and the settings that
    #: shape its replies (`fair_core.identity.reply_origin`); part of the key when set, never sent.
    origin: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.messages, tuple):
            object.__setattr__(self, "messages", tuple(self.messages))
        if not self.messages:
            raise ValueError(f"request for teacher {self.teacher!r} has no messages")

    @classmethod
    def for_teacher(cls, cfg: TeacherConfig, messages: Sequence[Message], sample: int = 0) -> ChatRequest:
        """A request with the teacher's identity (`fair_core.identity.teacher_identity`): provider, model,
        sampling parameters and safety settings."""
        identity = teacher_identity(cfg)
        safety = tuple(sorted(identity.pop("safety_settings", {}).items()))
        return cls(teacher=cfg.name, messages=tuple(messages), sample=sample, safety=safety, **identity)

    def canonical(self) -> dict[str, Any]:
        """What makes two requests interchangeable: no teacher name, no endpoint, no key."""
        return (
            {
                "v": KEY_VERSION,
                "provider": self.provider,
                "model": self.model,
                "messages": [[m.role, m.content] for m in self.messages],
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "top_p": self.top_p,
                "sample": self.sample,
            }
            | ({"safety": [list(pair) for pair in self.safety]} if self.safety else {})
            | ({"origin": self.origin} if self.origin else {})
        )

    def key(self) -> str:
        return stable_hash(self.canonical())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = [{"role": m.role, "content": m.content} for m in self.messages]
        return data

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> ChatRequest:
        raw = _known_fields(cls, data)
        raw["messages"] = tuple(Message(m["role"], m["content"]) for m in raw["messages"])
        raw["safety"] = tuple(tuple(pair) for pair in raw.get("safety", ()))
        return cls(**raw)


@dataclass(frozen=True)
class ChatResponse:
    """A teacher's reply (`ok`, or `refused` by a safety filter) or why there is none (`error`, `fatal`)."""

    text: str | None
    status: ResponseStatus = "ok"
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failure(cls, status: ResponseStatus, error: str) -> ChatResponse:
        return cls(text=None, status=status, error=error)

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> ChatResponse:
        return cls(**_known_fields(cls, data))


class ProviderError(Exception):
    """A classified failure of one call.

    kind: `retryable` (429, 5xx, timeout, dropped connection: try again later, after `retry_after` seconds
    when the provider said so), `invalid` (this request is wrong: not retried), `fatal` (the teacher cannot
    work at all, e.g. a bad key: stop sending to it), `refused` (a safety filter blocked the reply).
    The message must already be redacted (no API key).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ProviderError({self.kind!r}, {self.message!r}, status_code={self.status_code})"


class ProviderSetupError(RuntimeError):
    """A provider cannot be built: unknown name, or its SDK is missing (the message says what to run)."""


@runtime_checkable
class TeacherProvider(Protocol):
    """One teacher endpoint. `complete` returns a reply or raises `ProviderError`; it never retries itself.

    Wrappers implementing this protocol compose: rate limiting, cost accounting or fault injection can wrap
    any provider without touching the engine.
    """

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...


def require_sdk(module: str, package: str, extra: str | None) -> ModuleType:
    """Import a provider SDK lazily, or fail with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        how = f"pip install 'fair-distill[{extra}]'" if extra else f"pip install {package}"
        raise ProviderSetupError(f"this teacher needs the {package} package ({err}): run {how}") from None


def load_provider_module(modules: Mapping[str, str], provider: str, unknown: str, missing: str) -> ModuleType:
    """The module implementing `provider` in `modules` (imported now); `ProviderSetupError(unknown)` when
    the name is not in `modules`, `ProviderSetupError(missing)` when its module does not exist."""
    module_name = modules.get(provider)
    if module_name is None:
        raise ProviderSetupError(unknown)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise ProviderSetupError(missing) from None


def build_provider(cfg: TeacherConfig, api_key: str) -> TeacherProvider:
    """The provider implementation for `cfg.provider`, imported only when asked for."""
    known = ", ".join(sorted(PROVIDER_MODULES))
    module = load_provider_module(
        PROVIDER_MODULES,
        cfg.provider,
        unknown=f"teacher {cfg.name!r}: unknown provider {cfg.provider!r} (known: {known})",
        missing=f"teacher {cfg.name!r}: provider {cfg.provider!r} is not implemented in this version",
    )
    return module.create_provider(cfg, api_key)
