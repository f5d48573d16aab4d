"""Process-wide teacher runtime: one asyncio loop in a background thread, shared rate limits and ledgers.

Prefect runs tasks in threads; each teacher task submits its batch to this one loop (`get_runtime().run`),
so every task of a run shares one RPM limiter, one TPM limiter and one concurrency semaphore per teacher,
and one budget ledger per run. With the default SQLite cache the RPM and TPM limits are per *process*;
with a PostgreSQL cache (`cache.url`) they are shared by every process and machine using that database
(`shared_limits.py`: one bucket row per provider, model and endpoint), so each worker is given the whole
account limit. `max_concurrency` stays per process; `shared_concurrency` bounds the requests in flight
across all of them.

Window guarantee. `aiolimiter.AsyncLimiter` is a leaky bucket of capacity C draining at r per second: in
any window of T seconds it admits at most C + r*T. For RPM we use C = 1 and r*60 = 0.98 * limit, so any
closed 60 s window holds at most floor(1 + 0.98 * limit) <= limit sends (the 2% also absorbs network
jitter on the provider's clock). For TPM, C is the burst B (2 * max_tokens + 1024 tokens, at most a
quarter of the limit) and r*60 = 0.98 * limit - 2B: a window holds at most B + r*60 plus the one request
admitted just before it. A request estimated above B is admitted in B-sized pieces.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiolimiter import AsyncLimiter

from fair_core.teachers.db import Database, open_database
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.shared_limits import SharedBucket, SharedSlots

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig

T = TypeVar("T")

#: Share of a limit the limiters aim at (the rest is margin for the window bound and clock jitter).
SAFETY = 0.98
WINDOW_S = 60.0


def rpm_interval(limit: float, window_s: float = WINDOW_S) -> float:
    """Seconds between two sends under an RPM limit (0.98 * limit per window)."""
    if limit < 1:
        raise ValueError(f"a rate limit must be at least 1 per window (got {limit})")
    return window_s / (limit * SAFETY)


def rpm_limiter(limit: float, window_s: float = WINDOW_S) -> AsyncLimiter:
    """At most `limit` acquisitions in any closed `window_s` window: capacity 1, rate 0.98 * limit."""
    return AsyncLimiter(1, rpm_interval(limit, window_s))


def tpm_burst(limit: int, max_tokens: int) -> int:
    """The TPM bucket's capacity: room for one typical request, at most a quarter of the limit."""
    return max(1, min(int(limit * SAFETY / 4), 2 * max_tokens + 1024))


def tpm_refill(limit: float, burst: int) -> float:
    """Tokens a TPM bucket of capacity `burst` refills per window: 0.98*limit - 2*burst (module doc)."""
    per_window = limit * SAFETY - 2 * burst
    if per_window <= 0:
        raise ValueError(f"TPM limit {limit} is too small for bursts of {burst} tokens")
    return per_window


def tpm_limiter(limit: float, burst: int, window_s: float = WINDOW_S) -> AsyncLimiter:
    """A token bucket holding `burst` and refilling 0.98*limit - 2*burst per window (see the module doc)."""
    return AsyncLimiter(burst, window_s * burst / tpm_refill(limit, burst))


class RateLimits:
    """One teacher's shared limits: RPM and TPM buckets, a concurrency semaphore, usage counters.

    Use only on one event loop (the runtime's). `admit(tokens)` is called after taking the semaphore and
    right before sending: admissions are serialized (FIFO), so a send never waits behind a later one.
    """

    def __init__(
        self,
        name: str,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        max_concurrency: int = 16,
        max_tokens: int = 512,
        window_s: float = WINDOW_S,
        shared: tuple[SharedBucket | None, SharedBucket | None] | None = None,
        shared_slots: SharedSlots | None = None,
        lease_s: float = 180.0,
    ) -> None:
        self.name, self.rpm, self.tpm = name, rpm, tpm
        self.burst = tpm_burst(tpm, max_tokens) if tpm else 0
        # shared (rpm, tpm) buckets in a database replace the in-process ones (see shared_limits.py)
        self.shared_rpm, self.shared_tpm = shared or (None, None)
        self.rpm_limiter = rpm_limiter(rpm, window_s) if rpm and not self.shared_rpm else None
        self.tpm_limiter = tpm_limiter(tpm, self.burst, window_s) if tpm and not self.shared_tpm else None
        self.semaphore = asyncio.Semaphore(max(1, max_concurrency))
        self.shared_slots, self.lease_s = shared_slots, lease_s  # in flight across workers, leases' life
        self._admission = asyncio.Lock()
        self.admitted = 0
        self.tokens_estimated = 0
        self.tokens_used = 0

    def __repr__(self) -> str:
        return f"RateLimits({self.name!r}, rpm={self.rpm}, tpm={self.tpm})"

    async def admit(self, tokens: int) -> None:
        """Wait until one request of about `tokens` tokens may be sent under both limits."""
        if self.shared_rpm is not None or self.shared_tpm is not None:
            await self._admit_shared(tokens)
        elif self.rpm_limiter is not None or self.tpm_limiter is not None:
            async with self._admission:
                if self.tpm_limiter is not None:
                    remaining = max(1, tokens)
                    while remaining > 0:
                        piece = min(remaining, self.burst)
                        await self.tpm_limiter.acquire(piece)
                        remaining -= piece
                if self.rpm_limiter is not None:  # last, so the request leaves when its RPM slot opens
                    await self.rpm_limiter.acquire(1)
        self.admitted += 1
        self.tokens_estimated += tokens

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Room for one request in flight: this process's semaphore, then a shared slot when there is one
        (polled with backoff; freed after the attempt, or expired `lease_s` after a worker died)."""
        async with self.semaphore:
            if self.shared_slots is None:
                yield
                return
            holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
            delay = 0.01
            while (number := await asyncio.to_thread(self.shared_slots.take, holder, self.lease_s)) is None:
                await asyncio.sleep(delay)
                delay = min(0.5, delay * 2)
            try:
                yield
            finally:
                await asyncio.to_thread(self.shared_slots.give, number, holder)

    async def _admit_shared(self, tokens: int) -> None:
        """Reserve in the shared buckets (TPM first, then RPM from the time TPM allows), then sleep."""
        async with self._admission:  # reservations in order; the sleep itself is outside the lock
            wait = 0.0
            if self.shared_tpm is not None:
                wait = await asyncio.to_thread(self.shared_tpm.reserve, max(1, tokens))
            if self.shared_rpm is not None:
                wait = await asyncio.to_thread(self.shared_rpm.reserve, 1, wait)
        if wait > 0:
            await asyncio.sleep(wait)

    def record(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Actual usage of a reply (reported in progress and stats; the estimate was an upper bound)."""
        self.tokens_used += int(prompt_tokens or 0) + int(completion_tokens or 0)


class TeacherRuntime:
    """The loop thread and the registries of limits and ledgers; `get_runtime()` returns the process's one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._limits: dict[tuple[Any, ...], RateLimits] = {}
        self._databases: dict[str, Database] = {}  # of shared limits, by URL
        self._ledgers: dict[tuple[str, str], RunLedger] = {}
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None

    def writer(self) -> concurrent.futures.ThreadPoolExecutor:
        """The one thread that writes replies and spend to SQLite: concurrent writers would wait on each
        other's locks (busy-timeout sleeps), and one thread keeps one connection per database."""
        with self._lock:
            if self._writer is None:
                self._writer = concurrent.futures.ThreadPoolExecutor(1, "fair-cache-writer")
            return self._writer

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if self._loop is None or self._loop.is_closed() or not alive:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="fair-teacher-runtime", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                self._limits.clear()  # limiters and semaphores belong to the old loop
            return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the shared loop and wait for it (from any thread but the loop's own)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("TeacherRuntime.run called from its own loop: await the coroutine instead")
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def limits(
        self,
        name: str,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        max_concurrency: int = 16,
        max_tokens: int = 512,
        scope: str = "",
        shared_url: str | None = None,
        shared_concurrency: int | None = None,
        lease_s: float = 180.0,
    ) -> RateLimits:
        """The limits of a teacher in this process (same name, scope and settings: the same object); with
        `shared_url` (a PostgreSQL URL) its RPM and TPM are buckets shared through that database, and
        `shared_concurrency` bounds its requests in flight across every process using it."""
        key = (name, scope, rpm, tpm, max_concurrency, max_tokens, shared_url or "", shared_concurrency)
        self.loop  # noqa: B018  (a new loop clears the registry first)
        with self._lock:
            found = self._limits.get(key)
            if found is None:
                shared = self._shared_buckets(shared_url, scope or name, rpm, tpm, max_tokens)
                slots = None
                if shared_url and shared_concurrency:
                    db = self._database(shared_url)
                    slots = SharedSlots(db, f"{scope or name}|concurrency", shared_concurrency)
                found = self._limits[key] = RateLimits(
                    name,
                    rpm=rpm,
                    tpm=tpm,
                    max_concurrency=max_concurrency,
                    max_tokens=max_tokens,
                    shared=shared,
                    shared_slots=slots,
                    lease_s=lease_s,
                )
            return found

    def _database(self, url: str) -> Database:
        db = self._databases.get(url)
        if db is None:
            db = self._databases[url] = open_database(url, "rate limits")
        return db

    def _shared_buckets(
        self, url: str | None, scope: str, rpm: int | None, tpm: int | None, max_tokens: int
    ) -> tuple[SharedBucket | None, SharedBucket | None] | None:
        if not url or not (rpm or tpm):
            return None
        db = self._database(url)
        rpm_bucket = tpm_bucket = None
        if rpm:
            rpm_bucket = SharedBucket(db, f"{scope}|rpm", capacity=1, interval_s=rpm_interval(rpm))
        if tpm:
            burst = tpm_burst(tpm, max_tokens)
            interval = WINDOW_S / tpm_refill(tpm, burst)
            tpm_bucket = SharedBucket(db, f"{scope}|tpm", capacity=burst, interval_s=interval)
        return rpm_bucket, tpm_bucket

    def limits_for(self, cfg: TeacherConfig, shared_url: str | None = None) -> RateLimits:
        return self.limits(
            cfg.name,
            rpm=cfg.rpm,
            tpm=cfg.tpm,
            max_concurrency=cfg.max_concurrency,
            max_tokens=cfg.max_tokens,
            scope=f"{cfg.provider}|{cfg.model}|{cfg.base_url or ''}",
            shared_url=shared_url,
            shared_concurrency=cfg.shared_concurrency,
            lease_s=cfg.timeout_s + 60.0,
        )

    def ledger(self, path: str | Path | None, run_id: str, budget_usd: float | None) -> RunLedger:
        """The run's budget ledger (spend persisted beside the response cache at `path`)."""
        key = (str(path or ""), run_id)
        with self._lock:
            found = self._ledgers.get(key)
            if found is None:
                found = self._ledgers[key] = RunLedger(path, run_id, budget_usd)
        found.set_budget(budget_usd)
        return found

    def close(self) -> None:
        """Stop the loop thread (a later use starts a new one)."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
            writer, self._writer = self._writer, None
            self._limits.clear()
            databases, self._databases = list(self._databases.values()), {}
        for db in databases:
            db.close()
        if writer is not None:
            writer.shutdown(wait=True)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(10)
            if not loop.is_running():
                loop.close()


_runtime_lock = threading.Lock()
_runtime: TeacherRuntime | None = None


def get_runtime() -> TeacherRuntime:
    """The process's teacher runtime (created on first use; its loop thread starts on first call)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = TeacherRuntime()
        return _runtime
