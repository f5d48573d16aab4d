"""A run's budget and spend: reserve a request's worst-case cost before sending, settle the real cost after.

`run.budget_usd` counts everything the run (its run id) has paid, across attempts: spend is persisted in
the `spend` table beside the response cache. With a budget and a spend table, every reservation is also
held there (`holds`) and checked against the spend and every other process's holds in one locked
transaction, so workers of one run sharing the database never overspend together. Once a reservation
would go over the budget the ledger stops for good (until the budget is raised): no new request is sent,
in-flight ones finish and are saved.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import defaultdict
from pathlib import Path

from fair_core.teachers.sidecar import Sidecar, SpendRow

logger = logging.getLogger(__name__)


class BudgetExceeded(RuntimeError):
    """The run's budget is reached: nothing more is sent; every reply so far is saved. Not retried."""


class RunLedger:
    """Thread-safe budget and cost accumulator of one run (shared by every task through the runtime)."""

    def __init__(self, path: str | Path | None, run_id: str, budget_usd: float | None = None) -> None:
        """`path`: the SQLite file or `postgresql://` URL of the spend table (None: spend is not kept)."""
        self.run_id = run_id
        self.holder = uuid.uuid4().hex  # this ledger's row in `holds`
        self.budget_usd = budget_usd
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._sidecar = Sidecar(path) if path else None
        self.location = self._sidecar.location if self._sidecar else None
        found = self._sidecar.path if self._sidecar else None
        self.path = found.absolute() if isinstance(found, Path) else found
        self.prior_usd = self._sidecar.spent(run_id) if self._sidecar else 0.0
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.stopped = False
        self.paid_replies = 0
        self.by_teacher: dict[str, float] = defaultdict(float)

    @property
    def total_usd(self) -> float:
        """Spent by this run so far, earlier attempts included."""
        return self.prior_usd + self.spent_usd

    def set_budget(self, budget_usd: float | None) -> None:
        """Change the budget; a raised (or removed) budget lets a stopped ledger send again."""
        with self._lock:
            if budget_usd != self.budget_usd:
                self.budget_usd, self.stopped = budget_usd, False

    @property
    def exhausted(self) -> bool:
        return self.stopped

    def reserve(self, amount_usd: float) -> bool:
        """Hold `amount_usd` (a request's worst case) against the budget; False (and stop) if it won't fit.
        A granted reservation ends with `release` or `settle`. With a spend table this writes the hold
        there (blocking: call off the event loop); a database error propagates (nothing is held)."""
        with self._lock:
            if self.budget_usd is not None:
                if self.stopped:
                    return False
                if self._sidecar is not None:
                    fits = self._sidecar.hold(self.run_id, self.holder, amount_usd, self.budget_usd)
                else:
                    fits = self.total_usd + self.reserved_usd + amount_usd <= self.budget_usd
                if not fits:
                    self.stopped = True
                    logger.warning("%s", self.message())
                    return False
            self.reserved_usd += amount_usd
            self._in_flight += 1
            return True

    def _done(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        if not self._in_flight:
            self._idle.notify_all()

    def release(self, amount_usd: float) -> None:
        """Give back a reservation whose request was never paid (failed, refused before any work); with a
        spend table its hold there too (blocking)."""
        if self._sidecar is not None and self.budget_usd is not None and amount_usd > 0:
            try:
                self._sidecar.release_hold(self.holder, amount_usd)
            except self._sidecar.errors as err:  # the hold stays: counted against the budget until stale
                logger.warning("%s: could not release a budget hold (%s)", self._sidecar.location, err)
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - amount_usd)
            self._done()

    def settle(self, reserved_usd: float, cost_usd: float, teacher: str) -> None:
        """Replace a reservation by the real cost of a reply, in memory; the spend row is written with the
        reply (`spend_row`) or by `persist`, then `stored` ends the request's reservation."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)
            self.spent_usd += cost_usd
            self.by_teacher[teacher] += cost_usd
            self.paid_replies += 1

    def stored(self) -> None:
        """A settled request's reply is stored (or could not be): it is no longer in flight."""
        with self._lock:
            self._done()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait (up to `timeout_s`) until no reserved request of the run is in flight in this process."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout_s)

    def spend_row(
        self, teacher: str, request_key: str, mode: str, cost_usd: float, reserved_usd: float = 0.0
    ) -> SpendRow | None:
        """The `spend` row of a settled reply, ending its `reserved_usd` hold when the spend table holds
        it (None when there is neither a cost nor a hold to write, or spend is not kept)."""
        if self._sidecar is None:
            return None
        reserved = reserved_usd if self.budget_usd is not None else 0.0
        if cost_usd <= 0 and reserved <= 0:
            return None
        return SpendRow(self.run_id, teacher, request_key, mode, max(cost_usd, 0.0), self.holder, reserved)

    def cached_replies(self) -> int | None:
        """How many replies this run paid for are in the reply cache (None when spend is not kept)."""
        return self._sidecar.cached_paid(self.run_id) if self._sidecar is not None else None

    def persist(self, teacher: str, request_key: str, mode: str, cost_usd: float) -> None:
        """Record a paid reply in the `spend` table (blocking: call off the event loop)."""
        if self._sidecar is not None and cost_usd > 0:
            self._sidecar.add_spend(self.run_id, teacher, request_key, mode, cost_usd)

    def persist_row(self, row: SpendRow) -> None:
        """Write a `spend_row` (its cost and the end of its hold) in one transaction (blocking)."""
        if self._sidecar is not None:
            self._sidecar.add_spend_row(row)

    def message(self, cached_replies: int | None = None) -> str:
        """The budget stop's sentence; `cached_replies`: the run's paid replies in the cache (see
        `cached_replies()`, counted once the run's requests in flight are stored)."""
        cached = f"; {cached_replies} paid replies are cached" if cached_replies is not None else ""
        budget = self.budget_usd or 0.0
        return (
            f"budget of ${budget:.4g} reached after ${self.total_usd:.4g}{cached}; "
            "raise run.budget_usd and rerun to continue"
        )

    def close(self) -> None:
        if self._sidecar is not None:
            with contextlib.suppress(*self._sidecar.errors):
                self._sidecar.drop_hold(self.holder)
            self._sidecar.close()
