"""Teacher simulator server (Starlette on a uvicorn thread): `with start_simulator(examples, cfg) as sim:`.

It serves the wire formats it is given (`wires=`; default: the OpenAI chat-completions wire, all the product
needs). A wire is a module exposing `routes(state) -> list[Route]` (see `protocol.Wire`); it parses a
provider's request into a `SimCall`, lets `SimulatorState.handle` answer it (a `SimReply` or a `SimFault`)
and renders the outcome in that provider's format. A `faults` hook may turn any call into a fault. A wire
whose paths collide with another's sets `PREFIX = "/name"` and is served under that prefix.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.records import Example
from fair_core.teachers.simulator import openai_wire
from fair_core.teachers.simulator.protocol import (
    FaultHook,
    FaultKind,
    SimCall,
    SimFault,
    SimulatorState,
    Wire,
    wire_prefix,
    wire_providers,
)
from fair_core.teachers.simulator.teacher import RoleMarkers, TeacherSimulator

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "DEFAULT_WIRES",
    "FaultHook",
    "FaultKind",
    "SimCall",
    "SimFault",
    "SimulatorHandle",
    "SimulatorSetupError",
    "SimulatorState",
    "build_app",
    "check_providers",
    "start_simulator",
    "teacher_protocols",
]

#: What the product serves: OpenAI chat completions (the offline demo's teachers).
DEFAULT_WIRES: tuple[Wire, ...] = (openai_wire,)

_THREAD_NAME = "fair-simulator"


class SimulatorSetupError(ValueError):
    """The simulator cannot serve what was asked of it (a provider without a wire here)."""


def _quiet_dropped(record: logging.LogRecord) -> bool:
    """Hide uvicorn's complaint about the connections the simulator drops on purpose (its thread only)."""
    return not (record.threadName == _THREAD_NAME and "without completing response" in record.getMessage())


def teacher_protocols(teachers: Iterable[TeacherConfig]) -> list[str]:
    """What `teachers` need served: each provider ("gemini"), and "<provider>:batch" for batch-mode ones."""
    needs = {t.provider for t in teachers} | {f"{t.provider}:batch" for t in teachers if t.mode == "batch"}
    return sorted(needs)


def check_providers(providers: Collection[str], wires: Sequence[Wire]) -> None:
    """Raise unless some wire serves each of `providers` ("openai", "gemini", "openai:batch", ...)."""
    served = {name for wire in wires for name in wire_providers(wire)}
    missing = sorted(set(providers) - served)
    if missing:
        raise SimulatorSetupError(
            f"the teacher simulator cannot serve {', '.join(repr(m) for m in missing)}: the built-in "
            "simulator speaks the OpenAI chat-completions protocol only (it serves "
            f"{', '.join(sorted(served)) or 'nothing'}); simulate those teachers with provider: openai and "
            "mode: online, or turn simulator.enabled off"
        )


def build_app(state: SimulatorState, wires: Sequence[Wire] = DEFAULT_WIRES) -> Starlette:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import BaseRoute, Mount, Route

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(state.stats.snapshot())

    routes: list[BaseRoute] = [Route("/stats", stats, methods=["GET"])]
    for wire in wires:
        prefix = wire_prefix(wire)
        if prefix:
            routes.append(Mount(prefix, routes=list(wire.routes(state))))
        else:
            routes.extend(wire.routes(state))
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
    wires: Sequence[Wire] = DEFAULT_WIRES,
    providers: Collection[str] = (),
    startup_timeout_s: float = 15.0,
) -> SimulatorHandle:
    """Serve simulated teachers on host:port (0: a free port) from a daemon thread; returns once listening.

    `wires`: the wire formats to serve (default: OpenAI chat completions). `providers`: what the caller's
    teachers need ("openai", "gemini", "mistral", or "<provider>:batch" for a batch-mode teacher); a
    `SimulatorSetupError` says which of them no wire serves, before anything starts. Any non-empty Bearer
    key is accepted unless `required_key` is given (then others get 401).
    """
    import uvicorn

    check_providers(providers, wires)

    teachers = TeacherSimulator(examples, cfg, wrong_rates=wrong_rates, markers=markers)
    state = SimulatorState(teachers, cfg, required_key=required_key, faults=faults)
    # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections (no 40 ms Nagle stalls)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        build_app(state, wires),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
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
