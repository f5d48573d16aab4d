"""Helpers of bench/teachers.py: requests, a simulator in a child process, the engine worker, windows."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fair_core.config import SimulatorConfig, TeacherConfig  # noqa: E402
from fair_core.prompts import PromptSet  # noqa: E402
from fair_core.records import Example  # noqa: E402
from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderSetupError, build_provider  # noqa: E402

KEY = "sk-bench-simulator-key"
#: teacher name -> (provider, model); the wire each speaks is the provider's.
COMMITTEE = {
    "gpt": ("openai", "gpt-3.5-turbo"),
    "gemini": ("gemini", "gemini-2.5-flash"),
    "mistral": ("mistral", "open-mixtral-8x7b"),
}


def examples(n: int) -> list[Example]:
    return [
        Example(
            f"bench-{i}",
            "svamp",
            f"A shop sold {i} pens in the morning and {i + 7} in the afternoon. How many pens did it sell?",
            str(2 * i + 7),
            solution=f"{i} + {i + 7} = {2 * i + 7}",
        )
        for i in range(n)
    ]


def base_url(url: str, provider: str) -> str:
    return {"openai": f"{url}/v1", "gemini": url, "mistral": f"{url}/mistral"}[provider]


def teacher_configs(url: str, names: Sequence[str], **extra: Any) -> list[TeacherConfig]:
    return [
        TeacherConfig(
            name=n,
            provider=COMMITTEE[n][0],
            model=COMMITTEE[n][1],
            base_url=base_url(url, COMMITTEE[n][0]),
            max_tokens=128,
            **extra,
        )
        for n in names
    ]


def available_teachers(url: str) -> tuple[list[str], list[str]]:
    """Teachers whose provider module and SDK are installed, and the others (with why)."""
    ok, missing = [], []
    for cfg in teacher_configs(url, list(COMMITTEE)):
        try:
            build_provider(cfg, KEY)
            ok.append(cfg.name)
        except ProviderSetupError as err:
            missing.append(f"{cfg.name}: {err}")
    return ok, missing


def requests_for(teachers: Sequence[TeacherConfig], n: int, offset: int = 0) -> list[ChatRequest]:
    """n rationale requests, spread round-robin over the teachers, on distinct questions."""
    prompts = PromptSet()
    pool = examples(offset + n)
    return [
        ChatRequest.for_teacher(teachers[i % len(teachers)], prompts.rationale(pool[offset + i]))
        for i in range(n)
    ]


class SleepingProvider:
    """No SDK, no HTTP: a reply after `delay_s` (what the engine alone can do)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await asyncio.sleep(self.delay_s)
        return ChatResponse("The answer is 1.", prompt_tokens=40, completion_tokens=8)

    async def aclose(self) -> None:
        return None


class TimedProvider:
    """Wraps a provider and notes when each attempt leaves (the engine's send timestamps)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sent = inner, []

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.sent.append(time.monotonic())
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def max_in_window(times: Sequence[float], window: float = 60.0) -> int:
    """Most events in any closed window of `window` seconds."""
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- the simulator in a child process -----------------------------------------------------------------------


def serve(
    conn: Connection, n_examples: int, latency_ms: float, rates: dict[str, float], timeout_delay_s: float
) -> None:
    """Child process: serve the simulator until told to stop; answer 'stats' with server-side figures."""
    import logging

    from fair_core.teachers.simulator import start_simulator
    from fair_core.teachers.simulator.faults import FaultPlan
    from tests.simulators.wires import ALL_WIRES

    plan = FaultPlan(rates, seed=7, timeout_delay_s=timeout_delay_s)  # type: ignore[arg-type]
    cfg = SimulatorConfig(latency_ms=latency_ms, wrong_rate=0.1, unparseable_rate=0.0)
    with start_simulator(examples(n_examples), cfg, faults=plan, wires=ALL_WIRES) as sim:
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # timed-out clients hang up mid-request
        conn.send(sim.url)
        while True:
            command = conn.recv()
            if command == "stop":
                break
            replies = [c for c in plan.calls if c.fault is None]
            conn.send(
                {
                    "stats": sim.stats,
                    "injected": dict(plan.injected),
                    "calls": len(plan.calls),
                    "send_times": [c.at for c in plan.calls],
                    "ok_per_request": _per_request(replies),
                }
            )
            plan.calls.clear()


def _per_request(calls: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in calls:
        counts[c.request] = counts.get(c.request, 0) + 1
    return counts


# --- the engine worker (a subprocess, for the kill test) ----------------------------------------------------


def worker_main(argv: Sequence[str]) -> None:
    """`python bench/teachers.py --worker --url U --cache C --n N --concurrency K`: one engine run."""
    from fair_core.teachers.cache import ResponseCache
    from fair_core.teachers.db import is_url
    from fair_core.teachers.engine import CallOptions, run_requests_sync
    from fair_core.teachers.runtime import get_runtime

    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--teachers", default="gpt")
    parser.add_argument("--rpm", type=int, default=0, help="a limit (shared when --cache is a Postgres URL)")
    parser.add_argument("--offset", type=int, default=0, help="the first question asked")
    args = parser.parse_args(argv)
    extra = {"rpm": args.rpm, "max_concurrency": args.concurrency} if args.rpm else {}
    cfgs = teacher_configs(args.url, args.teachers.split(","), **extra)
    providers = {c.name: build_provider(c, KEY) for c in cfgs}
    options = CallOptions(max_concurrency={c.name: args.concurrency for c in cfgs})
    if args.rpm:
        shared = args.cache if is_url(args.cache) else None
        options = CallOptions(limits={c.name: get_runtime().limits_for(c, shared) for c in cfgs})
    with ResponseCache(args.cache) as cache:
        results = run_requests_sync(requests_for(cfgs, args.n, args.offset), providers, cache, options)
    print(sum(r.response.ok for r in results), flush=True)


def cache_table(path: Path) -> list[tuple[Any, ...]]:
    """The cache's replies as comparable rows (key, provider, model, status, text, tokens), by key."""
    import json
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT key, provider, model, status, response FROM responses ORDER BY key"
        ).fetchall()
    finally:
        conn.close()
    out = []
    for key, provider, model, status, response in rows:
        r = json.loads(response)
        out.append((key, provider, model, status, r["text"], r["prompt_tokens"], r["completion_tokens"]))
    return out


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
