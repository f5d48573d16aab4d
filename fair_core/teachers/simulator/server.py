"""Teacher simulator server (Starlette on a uvicorn thread): `with start_simulator(examples, cfg) as sim:`.

Wire formats are modules `*_wire.py` in this package, each exposing `routes(state) -> list[Route]`; they parse
a provider's request into a `SimCall`, let `SimulatorState.handle` answer it (a `SimReply` or a `SimFault`)
and render the outcome in that provider's format. A `faults` hook may turn any call into a fault. A wire whose
paths collide with another's sets `PREFIX = "/name"` in its module and is served under that prefix.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fair_core.config import SimulatorConfig
from fair_core.records import Example, Message
from fair_core.teachers.simulator.teacher import RoleMarkers, SimReply, TeacherSimulator

if TYPE_CHECKING:
    from starlette.applications import Starlette

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
    """Thread-safe counters: requests per model, replies per role, outcomes, calls in flight (and the max)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.by_model: Counter[str] = Counter()
        self.by_role: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

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
            return reply
        finally:
            self.stats.end(outcome, role)


_THREAD_NAME = "fair-simulator"


def _quiet_dropped(record: logging.LogRecord) -> bool:
    """Hide uvicorn's complaint about the connections the simulator drops on purpose (its thread only)."""
    return not (record.threadName == _THREAD_NAME and "without completing response" in record.getMessage())


def wire_modules() -> list[str]:
    """Every `*_wire` module of this package (a new provider wire is one new file)."""
    package = importlib.import_module(__package__ or "fair_core.teachers.simulator")
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name.endswith("_wire"))
    return [f"{package.__name__}.{name}" for name in names]


def build_app(state: SimulatorState) -> Starlette:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(state.stats.snapshot())

    routes = [Route("/stats", stats, methods=["GET"])]
    for name in wire_modules():
        module = importlib.import_module(name)
        prefix = getattr(module, "PREFIX", "")
        if prefix:
            routes.append(Mount(prefix, routes=module.routes(state)))
        else:
            routes.extend(module.routes(state))
    return Starlette(routes=routes)


class SimulatorHandle:
    """A running simulator: `base_url` for OpenAI clients, `url` for other wires, `stats`, `stop()`."""

    def __init__(self, state: SimulatorState, server: Any, thread: threading.Thread, sock: socket.socket):
        self.state, self._server, self._thread, self._sock = state, server, thread, sock
        self.host, self.port = sock.getsockname()[:2]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def wire_url(self, prefix: str) -> str:
        """The root of a wire served under `prefix` (a wire module's PREFIX), e.g. "/mistral"."""
        return f"{self.url}/{prefix.strip('/')}"

    @property
    def mistral_url(self) -> str:
        """`server_url` for `mistralai.client.Mistral` (the Mistral wire lives under /mistral)."""
        return self.wire_url("/mistral")

    @property
    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulator(
    examples: Sequence[Example],
    cfg: SimulatorConfig,
    *,
    wrong_rates: Mapping[str, float] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    required_key: str | None = None,
    faults: FaultHook | None = None,
    markers: RoleMarkers | None = None,
    startup_timeout_s: float = 15.0,
) -> SimulatorHandle:
    """Serve simulated teachers on host:port (0: a free port) from a daemon thread; returns once listening.

    Any non-empty Bearer key is accepted unless `required_key` is given (then others get 401).
    """
    import uvicorn

    teachers = TeacherSimulator(examples, cfg, wrong_rates=wrong_rates, markers=markers)
    state = SimulatorState(teachers, cfg, required_key=required_key, faults=faults)
    # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections (no 40 ms Nagle stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        build_app(state), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _quiet_dropped not in uvicorn_log.filters:
        uvicorn_log.addFilter(_quiet_dropped)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=_THREAD_NAME, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"teacher simulator did not start on {host}:{port}")
        time.sleep(0.01)
    return SimulatorHandle(state, server, thread, sock)
