"""Shared helpers of the teacher tests: examples, configs per provider, simulators, runs, leak checks."""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.records import Example, Message
from fair_core.store.parquet import RoundStore
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, TeacherProvider, build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.caller import PlannedCall, call_rows
from fair_core.teachers.engine import CallOptions, CallResult, run_requests
from fair_core.teachers.simulator.protocol import FaultHook, SimCall, SimFault, Wire
from fair_core.teachers.simulator.server import SimulatorHandle, start_simulator
from tests.simulators.gemini_batch_wire import batch_jobs
from tests.simulators.openai_batch_wire import batch_store
from tests.simulators.wires import ALL_WIRES, MISTRAL_PREFIX

PROVIDERS = ("openai", "gemini", "mistral")
KEY = "sk-sim-correct-key-0123456789abcdef"
WRONG_KEY = "sk-sim-WRONG-key-fedcba9876543210"
PROMPTS = PromptSet()
#: SimCall.wire of each provider's online calls, batch lines and (where the wire asks) whole batch jobs.
ONLINE_WIRE = {"openai": "openai", "gemini": "gemini", "mistral": "mistral"}
LINE_WIRE = {"openai": "openai_batch", "gemini": "gemini_batch", "mistral": "mistral_batch"}
JOB_WIRE = {"gemini": "gemini_batch_job", "mistral": "mistral_batch_job"}

EXAMPLES = (
    Example(
        "gsm-1",
        "gsm8k",
        "Tom has 3 apples and buys 4 more bags of 2 apples each. How many apples does he have?",
        "11",
        solution="Tom buys 4 * 2 = 8 apples.\nSo he has 3 + 8 = 11 apples.",
    ),
    Example("svamp-1", "svamp", "A shelf holds 12 books. 5 are taken away. How many are left?", "7"),
    Example("sqa-1", "strategyqa", "Could a penguin fly across the Atlantic Ocean?", "false", "boolean"),
    Example("sqa-2", "strategyqa", "Is water made of hydrogen and oxygen?", "true", "boolean"),
    Example(
        "logiqa-1",
        "logiqa",
        "Which one of the following must be true?",
        "C",
        "choice",
        context="Every member of the chess club also plays go. Anna is a member of the chess club.",
        options=("Anna does not play go.", "Anna plays only chess.", "Anna plays go.", "Nobody plays go."),
    ),
    Example(
        "logiqa-2",
        "logiqa",
        "Which one of the following must be true?",
        "A",
        "choice",
        context="No fish can climb trees. Nemo is a fish.",
        options=("Nemo cannot climb trees.", "Nemo climbs trees.", "Nemo is a bird.", "Fish are birds."),
    ),
)


def teacher(
    name: str, model: str, base_url: str | None = None, *, provider: str = "openai", **extra: Any
) -> TeacherConfig:
    return TeacherConfig(name=name, provider=provider, model=model, base_url=base_url, **extra)


def gemini(name: str, model: str, base_url: str | None = None, **extra: Any) -> TeacherConfig:
    return teacher(name, model, base_url, provider="gemini", **extra)


def mistral(name: str, model: str, base_url: str | None = None, **extra: Any) -> TeacherConfig:
    return teacher(name, model, base_url, provider="mistral", **extra)


def simulate(
    faults: FaultHook | None = None,
    *,
    required_key: str | None = KEY,
    wrong_rates: Mapping[str, float] | None = None,
    wires: Sequence[Wire] = ALL_WIRES,
    **cfg: Any,
) -> SimulatorHandle:
    """A simulator serving every wire, deterministic teachers (no wrong or unparseable replies by default)."""
    settings = {"wrong_rate": 0.0, "unparseable_rate": 0.0, **cfg}
    return start_simulator(
        EXAMPLES,
        SimulatorConfig(**settings),
        wrong_rates=wrong_rates,
        required_key=required_key,
        faults=faults,
        wires=wires,
    )


def base_url(handle: SimulatorHandle, provider: str) -> str:
    """Where `provider`'s SDK finds its wire (as flows.simulation points the product's teachers)."""
    if provider == "gemini":
        return handle.url
    if provider == "mistral":
        return handle.wire_url(MISTRAL_PREFIX)
    return handle.base_url


def served(
    provider: str, handle: SimulatorHandle, name: str = "t", model: str = "m", **extra: Any
) -> TeacherConfig:
    """A teacher of `provider` pointed at the simulator."""
    return teacher(name, model, base_url(handle, provider), provider=provider, **extra)


def online(cfg: TeacherConfig, key: str = KEY) -> TeacherProvider:
    return build_provider(cfg, key)


def requests_for(
    cfg: TeacherConfig,
    build: Callable[[Example], Sequence[Message]] = PROMPTS.rationale,
    examples: Sequence[Example] = EXAMPLES,
) -> list[ChatRequest]:
    return [ChatRequest.for_teacher(cfg, build(example)) for example in examples]


def run(
    requests: Sequence[ChatRequest],
    providers: Mapping[str, TeacherProvider],
    cache: ResponseCache,
    **changes: Any,
) -> list[CallResult]:
    """The engine over `requests` with a tiny backoff; providers are closed on the same loop."""
    options = CallOptions(backoff_base=0.001, backoff_max=0.01, **changes)

    async def main() -> list[CallResult]:
        try:
            return await run_requests(requests, providers, cache, options)
        finally:
            for provider in providers.values():
                await provider.aclose()

    return asyncio.run(main())


def provider_error(provider: TeacherProvider, request: ChatRequest) -> ProviderError:
    """The ProviderError of one call (the test fails if the call succeeds); closes the provider."""

    async def call() -> ProviderError:
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.complete(request)
            return caught.value
        finally:
            await provider.aclose()

    return asyncio.run(call())


Script = Callable[[SimCall, int], SimFault | None]


class Recorder:
    """A fault hook recording every call: `script(call, attempt)` (attempt: per model and prompt) decides
    its fault. `times[model]` are the arrival times, `calls` the (wire, model, last message) seen."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script
        self._lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, call: SimCall) -> SimFault | None:
        text = call.messages[-1].content if call.messages else ""
        with self._lock:
            self.times[call.model].append(time.monotonic())
            self.attempts[(call.model, text)] += 1
            self.calls.append((call.wire, call.model, text))
            attempt = self.attempts[(call.model, text)]
        return self.script(call, attempt) if self.script is not None else None

    def wires(self) -> Counter[str]:
        return Counter(wire for wire, _, _ in self.calls)


def first(fault: Callable[[SimCall], SimFault], attempts: int = 1) -> Script:
    """The fault for a request's first `attempts` attempts, then normal replies."""
    return lambda call, attempt: fault(call) if attempt <= attempts else None


def always(fault: SimFault) -> Script:
    return lambda call, attempt: fault


def assert_no_secret(
    secrets: Iterable[str] = (KEY, WRONG_KEY),
    *,
    texts: Iterable[str | None] = (),
    errors: Sequence[BaseException] = (),
    caplog: pytest.LogCaptureFixture | None = None,
    cache: ResponseCache | None = None,
    results: Sequence[CallResult] = (),
    tmp_path: Path | None = None,
) -> None:
    """No key in the texts, replies, exceptions, captured logs, cache files or stored `teacher_calls` rows."""
    haystack = [t or "" for t in texts]
    haystack += [r.response.to_json() + r.request.to_json() for r in results]
    haystack += [str(e) + repr(e) + "".join(traceback.format_exception(e)) for e in errors]
    if caplog is not None:
        haystack += [r.getMessage() + str(r.exc_text or "") for r in caplog.records]
    blobs: list[bytes] = []
    if cache is not None:
        cache.close()
        blobs += [p.read_bytes() for p in Path(cache.path).parent.glob(Path(cache.path).name + "*")]
    if results and tmp_path is not None:
        planned = [PlannedCall(r.request, "rationale", f"ex-{i}") for i, r in enumerate(results)]
        store = RoundStore(tmp_path / "run", "run", 0)
        store.write("teacher_calls", call_rows(planned, list(results)), part="calls")
        haystack.append(str(store.read("teacher_calls").to_pylist()))
    for secret in secrets:
        assert not [text for text in haystack if secret in text]
        assert not [blob for blob in blobs if secret.encode() in blob]


class BatchFaults:
    """A fault hook for batch runs: batch lines about the penguin fail (500), the chess club is blocked on
    every wire, and whole Gemini/Mistral jobs get `job_fault` when set; counts calls per (wire, topic)."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.job_fault: SimFault | None = None
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, call: SimCall) -> SimFault | None:
        text = call.messages[-1].content if call.messages else ""
        topic = "penguin" if "penguin" in text else "chess" if "chess club" in text else "other"
        with self._lock:
            self.calls[(call.wire, topic)] += 1
        if call.wire == JOB_WIRE.get(self.provider):
            return self.job_fault
        if topic == "chess":
            return SimFault("safety", "blocked")
        if topic == "penguin" and call.wire == LINE_WIRE[self.provider]:
            return SimFault("server_error", f"internal error for {call.api_key}", status=500)
        return None


def batch_simulator(provider: str, hook: FaultHook | None = None, step_s: float = 0.05) -> SimulatorHandle:
    """A simulator whose `provider` batch jobs take about `step_s` per stage."""
    handle = simulate(hook)
    if provider == "openai":
        batch_store(handle.state).job_delay_s = step_s
    elif provider == "gemini":
        batch_jobs(handle.state).step_s = step_s
    return handle


def plan_job(handle: SimulatorHandle, hook: BatchFaults, outcome: str) -> None:
    """Make the next batch job of `hook.provider` end `failed` or `expired` instead of completing."""
    if hook.provider == "openai":
        batch_store(handle.state).plan_next(outcome, lines_done=2)  # type: ignore[arg-type]
    elif hook.provider == "gemini":
        batch_jobs(handle.state).plan_next(outcome)  # type: ignore[arg-type]
    elif outcome == "failed":
        hook.job_fault = SimFault("server_error", "worker crashed")
    else:
        hook.job_fault = SimFault("timeout", "timeout exceeded", delay_s=0.05)


def jobs_created(handle: SimulatorHandle, hook: BatchFaults) -> int:
    """How many batch jobs the simulator created for `hook.provider`."""
    if hook.provider == "openai":
        return batch_store(handle.state).calls["batches.create"]
    if hook.provider == "gemini":
        return batch_jobs(handle.state).created
    return sum(n for (wire, _), n in hook.calls.items() if wire == JOB_WIRE["mistral"])


class FakeProvider:
    """A TeacherProvider double at the network boundary: `script(request, attempt)` answers or raises."""

    def __init__(self, script: Callable[[ChatRequest, int], ChatResponse] | None = None, delay: float = 0.0):
        self.script = script or (
            lambda request, attempt: ChatResponse(f"reply to {request.messages[-1].content}")
        )
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.times: list[float] = []
        self.in_flight = self.max_in_flight = 0
        self.closed = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls[request.key()] += 1
        self.times.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return self.script(request, self.calls[request.key()])
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed += 1
