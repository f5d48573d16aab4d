"""Rate limits shared through a database (fair_core/teachers/shared_limits.py): the GCRA schedule and the
concurrency leases on a virtual clock (SQLite), two processes on one PostgreSQL bucket and one bound of
requests in flight, and the runtime using them.
Run: pytest tests/core/teachers/test_shared_limits.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from fair_core.teachers.db import open_database
from fair_core.teachers.runtime import TeacherRuntime
from fair_core.teachers.shared_limits import SharedBucket, SharedSlots
from tests.core.teachers.test_runtime import max_in_window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reservations_follow_the_cell_rate_schedule(tmp_path: Path) -> None:
    clock = Clock()
    db = open_database(tmp_path / "limits.sqlite", "rate limits")
    rpm = SharedBucket(db, "openai|m|rpm", capacity=1, interval_s=1.0, clock=clock)
    assert [rpm.reserve() for _ in range(3)] == [0.0, 1.0, 2.0]  # one send per interval, in order
    clock.now += 10.0  # idle: no credit beyond the capacity builds up
    assert [rpm.reserve() for _ in range(2)] == [0.0, 1.0]
    assert rpm.reserve(1, not_before_s=5.0) == 5.0  # held by another limit: counted from when it leaves
    assert rpm.reserve() == pytest.approx(6.0)  # and the next one is spaced from it

    tpm = SharedBucket(db, "openai|m|tpm", capacity=10, interval_s=0.1, clock=clock)
    waits = [tpm.reserve(4) for _ in range(3)]  # 12 tokens: the burst of 10 is spent, 2 wait 0.2 s
    assert waits[:2] == [0.0, 0.0] and waits[2] == pytest.approx(0.2)
    assert tpm.reserve(30) == pytest.approx(3.2)  # a request above the burst waits for the bucket to drain
    # a second object on the same key (another process) continues the same schedule
    again = SharedBucket(db, "openai|m|rpm", capacity=1, interval_s=1.0, clock=clock)
    assert again.reserve() == pytest.approx(7.0)
    db.close()


def test_a_bad_bucket_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path / "limits.sqlite")
    with pytest.raises(ValueError, match="rate bucket 'k'"):
        SharedBucket(db, "k", capacity=0, interval_s=1.0)
    db.close()


def _sender(url: str, n: int, interval_s: float, start: Any) -> list[float]:
    """One worker process: `n` sends through the shared bucket; the wall-clock time of each."""
    db = open_database(url, "rate limits")
    bucket = SharedBucket(db, "sim|gpt|rpm", capacity=1, interval_s=interval_s)
    bucket.reserve(0.0)  # connect and create the table before the race
    start.wait(60)
    sent = []
    for _ in range(n):
        time.sleep(bucket.reserve())
        sent.append(time.time())
    db.close()
    return sent


def test_two_processes_share_one_limit_on_postgres(postgres_url: str) -> None:
    n, interval = 25, 0.04
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        start = manager.Barrier(2)
        jobs = [pool.apply_async(_sender, (postgres_url, n, interval, start)) for _ in range(2)]
        times = sorted(t for job in jobs for t in job.get(timeout=120))
    span = times[-1] - times[0]
    # alone, each process would send its 25 in 1 s; sharing, the 50 sends take the whole 49 intervals
    assert span >= 0.9 * (2 * n - 1) * interval
    window = 10 * interval  # at most 11 sends fit in any window of 10 intervals (a little sleep jitter)
    assert max_in_window(times, window=window) <= 12


def test_the_runtime_shares_limits_on_postgres_and_not_on_sqlite(postgres_url: str) -> None:
    runtime = TeacherRuntime()
    try:
        local = runtime.limits("gpt", rpm=600, tpm=100_000, scope="sim|m|")
        assert local.shared_rpm is None and local.rpm_limiter is not None
        shared = runtime.limits("gpt", rpm=600, tpm=100_000, scope="sim|m|", shared_url=postgres_url)
        assert shared is not local and shared.rpm_limiter is None and shared.tpm_limiter is None
        assert shared.shared_rpm is not None and shared.shared_tpm is not None

        async def admit_three() -> None:
            for _ in range(3):
                await shared.admit(100)

        started = time.monotonic()
        runtime.run(admit_three())
        assert time.monotonic() - started >= 2 * 60 / (600 * 0.98) * 0.9  # two RPM intervals waited
        assert shared.admitted == 3
        db = open_database(postgres_url)
        keys = sorted(row[0] for row in db.query("SELECT key FROM rate_buckets"))
        db.close()
        assert keys == ["sim|m||rpm", "sim|m||tpm"]
    finally:
        runtime.close()


def test_shared_slots_lease_free_and_expire(tmp_path: Path) -> None:
    clock = Clock()
    db = open_database(tmp_path / "limits.sqlite", "rate limits")
    slots = SharedSlots(db, "openai|m|concurrency", 2, clock=clock)
    assert [slots.take("a", 10.0), slots.take("b", 10.0), slots.take("c", 10.0)] == [0, 1, None]
    assert slots.held() == 2
    slots.give(0, "someone else")  # only the holder frees its slot
    assert slots.take("c", 10.0) is None
    slots.give(0, "a")
    assert slots.take("c", 10.0) == 0
    clock.now += 11.0  # a killed worker's leases expire
    assert slots.held() == 0 and slots.take("d", 10.0) == 0
    with pytest.raises(ValueError, match="shared slots 'k'"):
        SharedSlots(db, "k", 0)
    db.close()


def _in_flight(url: str, start: Any) -> list[tuple[float, float]]:
    """One worker process: 12 requests through its runtime's limits; when each held a slot."""
    runtime = TeacherRuntime()
    limits = runtime.limits("gpt", max_concurrency=8, scope="sim|m|", shared_url=url, shared_concurrency=3)
    spans: list[tuple[float, float]] = []

    async def one() -> None:
        async with limits.slot():
            began = time.time()
            await asyncio.sleep(0.05)
            spans.append((began, time.time()))

    async def all_of_them() -> None:
        await asyncio.gather(*(one() for _ in range(12)))

    assert limits.shared_slots is not None and limits.shared_slots.held() == 0  # connected, table made
    start.wait(60)
    runtime.run(all_of_them())
    runtime.close()
    return spans


def test_two_processes_share_a_concurrency_bound_on_postgres(postgres_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        start = manager.Barrier(2)
        jobs = [pool.apply_async(_in_flight, (postgres_url, start)) for _ in range(2)]
        spans = [span for job in jobs for span in job.get(timeout=120)]
    assert len(spans) == 24
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    most, now = 0, 0
    for _, step in events:
        now += step
        most = max(most, now)
    assert most == 3  # never more than the shared bound, though each process alone would run 8
    db = open_database(postgres_url)
    [(left,)] = db.query("SELECT COUNT(*) FROM rate_leases WHERE holder IS NOT NULL")
    db.close()
    assert left == 0  # every slot was given back
