"""Seeded fault plans for the simulator: `start_simulator(..., faults=FaultPlan({"rate_limit": 0.05}))`.

A `FaultPlan` is a `FaultHook`: for each call it decides, from a seeded hash of (seed, request, attempt),
whether to answer with a fault of some kind instead of a reply. Options: per-kind rates, only some models,
only the first N attempts of each request (so every request succeeds in the end), and "fail everything
for model M until cleared" (an outage). It also records every call it sees (time, model, request id), which
the benchmark uses to count sends per window and duplicates.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from fair_core.hashing import stable_hash
from fair_core.teachers.simulator.protocol import FaultKind, SimCall, SimFault

MESSAGES: dict[str, tuple[str, int]] = {
    "auth": ("Incorrect API key provided.", 401),
    "rate_limit": ("Rate limit reached for requests. Please try again later.", 429),
    "server_error": ("The server had an error while processing your request.", 500),
    "timeout": ("The server did not answer in time.", 504),
    "drop": ("connection dropped", 0),
    "malformed": ("malformed body", 200),
    "safety": ("blocked by the safety filter", 200),
}


def call_id(call: SimCall) -> str:
    """The identity of a request as the server sees it (model, messages, sample)."""
    return stable_hash([call.model, [[m.role, m.content] for m in call.messages], call.sample])


@dataclass(frozen=True)
class SeenCall:
    at: float
    model: str
    request: str
    attempt: int
    fault: str | None


class FaultPlan:
    """A seeded `FaultHook`. `rates`: fault kind -> probability per attempt (they add up to at most 1).

    `models`: only calls to these models can fault. `first_attempts`: only the first N attempts of each
    request can fault. `retry_after`: seconds sent with 429s (None: no header). `timeout_delay_s`: how long a
    `timeout` fault hangs before its 504 (longer than the client's timeout: the client gives up first).
    """

    def __init__(
        self,
        rates: Mapping[FaultKind, float] | None = None,
        *,
        seed: int = 0,
        models: Collection[str] | None = None,
        first_attempts: int | None = None,
        retry_after: float | None = None,
        timeout_delay_s: float = 1.0,
        record: bool = True,
    ) -> None:
        self.rates = {k: float(v) for k, v in (rates or {}).items() if v > 0}
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to more than 1: {self.rates}")
        unknown = set(self.rates) - set(MESSAGES)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {sorted(MESSAGES)}")
        self.seed, self.first_attempts = seed, first_attempts
        self.models = frozenset(models) if models is not None else None
        self.retry_after, self.timeout_delay_s, self.record = retry_after, timeout_delay_s, record
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._down: dict[str, FaultKind] = {}
        self.injected: Counter[str] = Counter()
        self.calls: list[SeenCall] = []

    def fail_model(self, model: str, kind: FaultKind = "server_error") -> None:
        """Every call to `model` faults with `kind` until `clear(model)`."""
        with self._lock:
            self._down[model] = kind

    def clear(self, model: str | None = None) -> None:
        """End an outage (of one model, or all)."""
        with self._lock:
            if model is None:
                self._down.clear()
            else:
                self._down.pop(model, None)

    def fault(self, kind: FaultKind) -> SimFault:
        message, status = MESSAGES[kind]
        return SimFault(
            kind,
            message,
            status or None,
            retry_after=self.retry_after if kind == "rate_limit" else None,
            delay_s=self.timeout_delay_s if kind == "timeout" else 0.0,
        )

    def _draw(self, request: str, attempt: int) -> FaultKind | None:
        u = random.Random(int(stable_hash([self.seed, request, attempt])[:16], 16)).random()
        total = 0.0
        for kind, rate in sorted(self.rates.items()):
            total += rate
            if u < total:
                return kind
        return None

    def __call__(self, call: SimCall) -> SimFault | None:
        request = call_id(call)
        with self._lock:
            self._attempts[request] += 1
            attempt = self._attempts[request]
            kind: FaultKind | None = self._down.get(call.model)
            eligible = (self.models is None or call.model in self.models) and (
                self.first_attempts is None or attempt <= self.first_attempts
            )
            if kind is None and eligible:
                kind = self._draw(request, attempt)
            if kind is not None:
                self.injected[kind] += 1
            if self.record:
                self.calls.append(SeenCall(time.monotonic(), call.model, request, attempt, kind))
        return self.fault(kind) if kind is not None else None

    def attempts(self) -> dict[str, int]:
        """Calls seen per request id."""
        with self._lock:
            return dict(self._attempts)
