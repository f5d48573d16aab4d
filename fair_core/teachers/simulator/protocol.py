"""What the simulator's server and its wire formats share: calls, faults, the fault hook, state and stats."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fair_core.config import SimulatorConfig
from fair_core.records import Message
from fair_core.teachers.simulator.teacher import SimReply, TeacherSimulator

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

FaultKind = Literal[
    "auth", "rate_limit", "server_error", "timeout", "drop", "malformed", "safety", "empty", "empty_body"
]


@dataclass(frozen=True)
class SimCall:
    """One chat call as any wire format sees it."""

    wire: str
    model: str
    messages: tuple[Message, ...]
    api_key: str | None
    sample: int = 0
    max_tokens: int | None = None


@dataclass(frozen=True)
class SimFault:
    """A failure for the wire to render: 401, 429 (+ Retry-After), 5xx, a hang, a dropped connection, a
    malformed body, a safety block, a reply with empty content (`empty`) or a 200 with no body at all
    (`empty_body`). `delay_s` is how long a `timeout` hangs before answering."""

    kind: FaultKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    delay_s: float = 0.0


class FaultHook(Protocol):
    def __call__(self, call: SimCall) -> SimFault | None: ...


class SimulatorStats:
    """Thread-safe counters: requests per model, replies per role, outcomes, calls in flight (and the max),
    and `repeated`: calls answered that had been answered before (the same model, messages, sample and
    token limit; whatever the key), i.e. what a client that loses no reply should never pay for twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.by_model: Counter[str] = Counter()
        self.by_role: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.repeated = 0
        self._answered: set[int] = set()

    def begin(self, model: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_model[model] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, outcome: str, role: str | None) -> None:
        with self._lock:
            self.in_flight -= 1
            self.by_outcome[outcome] += 1
            if role is not None:
                self.by_role[role] += 1

    def answered(self, call: SimCall) -> None:
        fingerprint = hash((call.wire, call.model, call.messages, call.sample, call.max_tokens))
        with self._lock:
            self.repeated += fingerprint in self._answered
            self._answered.add(fingerprint)

    def rejected(self, outcome: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_outcome[outcome] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "by_model": dict(self.by_model),
                "by_role": dict(self.by_role),
                "by_outcome": dict(self.by_outcome),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "repeated": self.repeated,
            }


class SimulatorState:
    """What every wire shares: the simulated teachers, the key check, latency, faults and stats."""

    def __init__(
        self,
        teachers: TeacherSimulator,
        cfg: SimulatorConfig,
        required_key: str | None = None,
        faults: FaultHook | None = None,
    ) -> None:
        self.teachers, self.cfg, self.required_key, self.faults = teachers, cfg, required_key, faults
        self.stats = SimulatorStats()

    def check_key(self, key: str | None) -> SimFault | None:
        if not key:
            return SimFault("auth", "You didn't provide an API key (Authorization: Bearer <key>).", 401)
        if self.required_key is not None and key != self.required_key:
            # echoes the key like a careless server would: clients must redact it
            return SimFault("auth", f"Incorrect API key provided: {key}.", 401)
        return None

    async def handle(self, call: SimCall) -> SimReply | SimFault:
        self.stats.begin(call.model)
        outcome, role = "error", None
        try:
            fault = self.check_key(call.api_key) or (self.faults(call) if self.faults else None)
            if fault is not None:
                outcome = fault.kind
                return fault
            if self.cfg.latency_ms > 0:
                await asyncio.sleep(self.cfg.latency_ms / 1000.0)
            reply = self.teachers.reply(
                call.model, call.messages, sample=call.sample, max_tokens=call.max_tokens
            )
            outcome, role = "ok", reply.role
            self.stats.answered(call)
            return reply
        finally:
            self.stats.end(outcome, role)


class Wire(Protocol):
    """A wire format (a module, usually): `routes(state)` to serve, under its `PREFIX` if it has one.

    `PROVIDERS` names what its clients are: a provider ("openai") or a provider's batch API ("openai:batch").
    """

    def routes(self, state: SimulatorState) -> Sequence[BaseRoute]: ...


def wire_prefix(wire: Wire) -> str:
    return str(getattr(wire, "PREFIX", ""))


def wire_providers(wire: Wire) -> tuple[str, ...]:
    return tuple(getattr(wire, "PROVIDERS", ()))
