"""Teacher engine benchmark on the local simulators (50 ms per request): `python bench/teachers.py [--quick]`.

Four measurements, printed as one table (see bench/README.md): (1) our engine vs a sequential one-at-a-time
loop like the paper code's, on the OpenAI, Gemini and Mistral wires (the simulator runs in a child process,
so client and server each have a core), and again (1b) at 1 s per reply, a real provider's latency; (2) a
600 RPM limit: achieved rate / limit and the most sends in any 60 s window, and (2b) the same with two
worker processes each given the whole limit, sharing it through a PostgreSQL cache (tests/pg.py starts
one; counted at the simulator); (3) 10% of replies turned into
429/500/timeouts: completion and duplicates; (4) the engine killed with SIGKILL half-way through, then
re-run: requests re-sent vs in flight at the kill, and the final cache compared with an uninterrupted run's.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import teachers_support as ts

from fair_core.teachers.base import build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallOptions, run_requests_sync
from fair_core.teachers.runtime import get_runtime

LATENCY_MS = 50.0
SLOW_LATENCY_MS = 1000.0  # a provider's typical time to a few hundred tokens (figure 1b)
CURATOR_RPS = 345.0  # bespokelabs curator's reported online throughput


def start_simulator(
    n: int,
    rates: dict[str, float] | None = None,
    timeout_delay_s: float = 2.0,
    latency_ms: float = LATENCY_MS,
) -> tuple[Any, Any, str]:
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(
        target=ts.serve, args=(child, n, latency_ms, rates or {}, timeout_delay_s), daemon=True
    )
    proc.start()
    return proc, parent, parent.recv()


def server_stats(conn: Any) -> dict[str, Any]:
    conn.send("stats")
    return conn.recv()


def stop(proc: Any, conn: Any) -> None:
    conn.send("stop")
    proc.join(10)


def throughput(n: int, loop_n: int, concurrency: int, latency_ms: float = LATENCY_MS) -> dict[str, Any]:
    proc, conn, url = start_simulator(n + loop_n, latency_ms=latency_ms)
    try:
        names, missing = ts.available_teachers(url)
        cfgs = ts.teacher_configs(url, names)
        providers = {c.name: build_provider(c, ts.KEY) for c in cfgs}
        subset = ts.requests_for(cfgs, loop_n, offset=n)

        async def one_at_a_time() -> None:  # the paper code: every call waits for the previous one
            for request in subset:
                await providers[request.teacher].complete(request)
            for p in providers.values():
                await p.aclose()

        started = time.perf_counter()
        ts.run_async(one_at_a_time())
        loop_rate = loop_n / (time.perf_counter() - started)
        server_stats(conn)
        with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "c.sqlite") as cache:
            requests = ts.requests_for(cfgs, n)
            started = time.perf_counter()
            options = CallOptions(max_concurrency=dict.fromkeys(names, concurrency))
            results = run_requests_sync(requests, providers, cache, options)
            rate = n / (time.perf_counter() - started)
        ok = sum(r.response.ok for r in results)
        sleepers = {name: ts.SleepingProvider(latency_ms / 1000) for name in names}
        with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "c.sqlite") as cache:
            started = time.perf_counter()
            run_requests_sync(requests, sleepers, cache, options)
            alone = n / (time.perf_counter() - started)
        return {
            "engine_alone_rps": alone,
            "teachers": names,
            "missing": missing,
            "loop_rps": loop_rate,
            "engine_rps": rate,
            "ok": ok,
            "server_requests": server_stats(conn)["calls"],
        }
    finally:
        stop(proc, conn)


def rate_limit(seconds: float, rpm: int = 600) -> dict[str, Any]:
    n = int(rpm * 0.98 * seconds / 60) + 1
    proc, conn, url = start_simulator(n)
    try:
        [cfg] = ts.teacher_configs(url, ["gpt"], rpm=rpm, max_concurrency=32)
        timed = ts.TimedProvider(build_provider(cfg, ts.KEY))
        limits = {cfg.name: get_runtime().limits_for(cfg)}
        with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "c.sqlite") as cache:
            options = CallOptions(limits=limits)
            results = run_requests_sync(ts.requests_for([cfg], n), {cfg.name: timed}, cache, options)
        server = server_stats(conn)["send_times"]
        times = sorted(timed.sent)
        achieved = (len(times) - 1) / (times[-1] - times[0]) * 60.0
        return {
            "n": n,
            "ok": sum(r.response.ok for r in results),
            "span_s": times[-1] - times[0],
            "ratio": achieved / rpm,
            "max_window_engine": ts.max_in_window(times),
            "max_window_server": ts.max_in_window(server),
            "rpm": rpm,
        }
    finally:
        stop(proc, conn)


def faults(n: int, concurrency: int) -> dict[str, Any]:
    rates = {"rate_limit": 0.034, "server_error": 0.033, "timeout": 0.033}
    proc, conn, url = start_simulator(n, rates, timeout_delay_s=6.0)
    try:
        names, _ = ts.available_teachers(url)
        cfgs = ts.teacher_configs(url, names, timeout_s=5.0)
        providers = {c.name: build_provider(c, ts.KEY) for c in cfgs}
        with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "c.sqlite") as cache:
            requests = ts.requests_for(cfgs, n)
            started = time.perf_counter()
            results = run_requests_sync(
                requests,
                providers,
                cache,
                CallOptions(
                    max_concurrency=dict.fromkeys(names, concurrency),
                    max_retries=8,
                    backoff_base=0.05,
                    backoff_max=1.0,
                    timeouts=dict.fromkeys(names, 5.0),
                ),
            )
            elapsed = time.perf_counter() - started
            stored = len(cache)
        server = server_stats(conn)
        completed = sum(r.response.ok for r in results)
        dupes = sum(c - 1 for c in server["ok_per_request"].values() if c > 1)
        return {
            "n": n,
            "completed": completed,
            "stored": stored,
            "injected": server["injected"],
            "attempts": server["calls"],
            "duplicated_replies": dupes,
            "seconds": elapsed,
        }
    finally:
        stop(proc, conn)


def _worker(
    url: str, cache: Path | str, n: int, concurrency: int, teachers: list[str], *extra: str
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        __file__,
        "--worker",
        "--url",
        url,
        "--cache",
        str(cache),
        "--n",
        str(n),
        "--concurrency",
        str(concurrency),
        "--teachers",
        ",".join(teachers),
        *extra,
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def shared_rate_limit(seconds: float, rpm: int = 600, workers: int = 2) -> dict[str, Any]:
    """`workers` engine processes, each given the whole `rpm`, sharing it through one PostgreSQL cache."""
    from tests.pg import PgServer

    n = int(rpm * 0.98 * seconds / 60) + 1
    pg = PgServer().start()
    proc, conn, url = start_simulator(n)
    try:
        database = pg.new_database()
        share = n // workers
        parts = [(i * share, n - i * share if i == workers - 1 else share) for i in range(workers)]
        procs = [
            _worker(url, database, k, 32, ["gpt"], "--rpm", str(rpm), "--offset", str(first))
            for first, k in parts
        ]
        ok = sum(int((p.communicate()[0] or "0").strip() or 0) for p in procs)
        server = sorted(server_stats(conn)["send_times"])
        achieved = (len(server) - 1) / (server[-1] - server[0]) * 60.0
        return {
            "n": n,
            "ok": ok,
            "workers": workers,
            "span_s": server[-1] - server[0],
            "ratio": achieved / rpm,
            "max_window_server": ts.max_in_window(server),
            "rpm": rpm,
        }
    finally:
        stop(proc, conn)
        pg.stop()


def _rows(cache: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def kill_and_resume(n: int, concurrency: int) -> dict[str, Any]:
    from fair_core.config import SimulatorConfig
    from fair_core.teachers.simulator import start_simulator as start_in_process
    from fair_core.teachers.simulator.faults import FaultPlan
    from tests.simulators.wires import ALL_WIRES

    plan = FaultPlan()
    cfg = SimulatorConfig(latency_ms=LATENCY_MS, wrong_rate=0.1, unparseable_rate=0.0)
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_in_process(ts.examples(n), cfg, faults=plan, wires=ALL_WIRES) as sim,
    ):
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # killed clients hang up mid-request
        names, _ = ts.available_teachers(sim.url)
        killed, clean = Path(tmp) / "killed.sqlite", Path(tmp) / "clean.sqlite"
        worker = _worker(sim.url, killed, n, concurrency, names)
        while _rows(killed) < n // 2 and worker.poll() is None:
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        first = {c.request for c in plan.calls}
        time.sleep(0.5)  # let the server finish what it was answering
        committed = _rows(killed)
        in_flight = len(first) - committed
        mark = len(plan.calls)
        resumed = _worker(sim.url, killed, n, concurrency, names)
        resumed.communicate()
        second = [c.request for c in plan.calls[mark:]]
        resent = len(first & set(second))
        _worker(sim.url, clean, n, concurrency, names).communicate()
        same = ts.cache_table(killed) == ts.cache_table(clean)
        return {
            "n": n,
            "committed_at_kill": committed,
            "in_flight_at_kill": in_flight,
            "resent": resent,
            "second_run_sent": len(second),
            "identical": same,
            "rows": len(ts.cache_table(killed)),
            "concurrency": concurrency * len(names),
        }


def main(quick: bool) -> None:
    scale = (600, 150, 65.0, 600, 400) if quick else (3000, 150, 75.0, 3000, 1200)
    n, loop_n, seconds, fault_n, kill_n = scale
    print(
        f"teacher engine benchmark ({'quick' if quick else 'full'}), simulator latency {LATENCY_MS:g} ms",
        flush=True,
    )
    t = throughput(n, loop_n, concurrency=64)
    print(f"(1) {t}", flush=True)
    slow_n, slow_loop = (300, 6) if quick else (1000, 12)
    s = throughput(slow_n, slow_loop, concurrency=64, latency_ms=SLOW_LATENCY_MS)
    print(f"(1b) {s}", flush=True)
    r = rate_limit(seconds)
    print(f"(2) {r}", flush=True)
    w = shared_rate_limit(seconds)
    print(f"(2b) {w}", flush=True)
    f = faults(fault_n, concurrency=16)
    print(f"(3) {f}", flush=True)
    k = kill_and_resume(kill_n, concurrency=16)
    print(f"(4) {k}", flush=True)
    rows = [
        (
            "providers",
            ", ".join(t["teachers"]) + (f" (missing: {'; '.join(t['missing'])})" if t["missing"] else ""),
        ),
        ("(1) sequential loop, req/s", f"{t['loop_rps']:.1f} ({loop_n} requests)"),
        ("(1) engine, req/s", f"{t['engine_rps']:.0f} ({n} requests, {t['ok']} ok)"),
        ("(1) engine alone (no SDK/HTTP), req/s", f"{t['engine_alone_rps']:.0f} (50 ms sleep per call)"),
        ("(1) speed-up engine / loop", f"{t['engine_rps'] / t['loop_rps']:.0f}x"),
        ("(1) engine / curator's 345 req/s", f"{t['engine_rps'] / CURATOR_RPS:.2f}x"),
        (
            f"(1b) at {SLOW_LATENCY_MS:g} ms per reply: loop / engine, req/s",
            f"{s['loop_rps']:.2f} ({slow_loop} requests) / "
            f"{s['engine_rps']:.0f} ({slow_n} requests, {s['ok']} ok)",
        ),
        ("(1b) speed-up engine / loop", f"{s['engine_rps'] / s['loop_rps']:.0f}x"),
        ("(2) achieved / limit (600 RPM)", f"{r['ratio']:.3f} ({r['n']} requests over {r['span_s']:.0f} s)"),
        (
            "(2) most sends in any 60 s window",
            f"engine {r['max_window_engine']}, server {r['max_window_server']} (limit {r['rpm']})",
        ),
        (
            f"(2b) {w['workers']} worker processes sharing {w['rpm']} RPM (PostgreSQL): achieved / limit",
            f"{w['ratio']:.3f} ({w['ok']}/{w['n']} requests over {w['span_s']:.0f} s)",
        ),
        ("(2b) most sends in any 60 s window, server", f"{w['max_window_server']} (limit {w['rpm']})"),
        (
            "(3) completed with 10% faults",
            f"{f['completed']}/{f['n']} ({f['stored']} stored, "
            f"{f['attempts']} attempts, injected {f['injected']})",
        ),
        ("(3) duplicated replies", str(f["duplicated_replies"])),
        (
            "(4) re-sent after SIGKILL",
            f"{k['resent']} (in flight at the kill: {k['in_flight_at_kill']}, "
            f"concurrency {k['concurrency']}, {k['committed_at_kill']} saved)",
        ),
        ("(4) final cache = uninterrupted run", f"{k['identical']} ({k['rows']} rows)"),
    ]
    width = max(len(a) for a, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        ts.worker_main([a for a in sys.argv[1:] if a != "--worker"])
    else:
        main("--quick" in sys.argv)
