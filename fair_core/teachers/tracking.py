"""Progress of a batch of teacher calls: `EngineProgress` snapshots and the tracker that counts them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger("fair_core.teachers.engine")


@dataclass(frozen=True)
class EngineProgress:
    """Where a batch stands: requests done of total, from cache, in flight, sent, failures per teacher."""

    done: int
    total: int
    cached: int
    in_flight: int
    sent: int
    retries: int
    errors: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    budget_stopped: bool = False

    def __str__(self) -> str:
        errors = ", ".join(f"{t}={n}" for t, n in sorted(self.errors.items()) if n) or "none"
        return (
            f"{self.done}/{self.total} done ({self.cached} cached, {self.in_flight} in flight, "
            f"{self.sent} sent, {self.retries} retries; errors: {errors})"
        )

    def info(self) -> str:
        """A short line for a progress bar: cache hits, retries, cost, errors per teacher."""
        parts = [f"{self.cached} cached"]
        if self.retries:
            parts.append(f"{self.retries} retries")
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.4f}")
        errors = [f"{t} {n}" for t, n in sorted(self.errors.items()) if n]
        parts.append("errors: " + ", ".join(errors) if errors else "no errors")
        if self.budget_stopped:
            parts.append("budget reached")
        return " · ".join(parts)


class Tracker:
    def __init__(self, total: int, teachers: Sequence[str], report: Callable[[EngineProgress], None] | None):
        self.total, self.report = total, report
        self.done = self.cached = self.in_flight = self.sent = self.retries = 0
        self.errors = dict.fromkeys(teachers, 0)
        self.cost_usd = 0.0
        self.budget_stopped = False

    def snapshot(self) -> EngineProgress:
        return EngineProgress(
            self.done,
            self.total,
            self.cached,
            self.in_flight,
            self.sent,
            self.retries,
            dict(self.errors),
            self.cost_usd,
            self.budget_stopped,
        )

    def emit(self) -> None:
        if self.report is None:
            return
        try:
            self.report(self.snapshot())
        except Exception:  # a broken progress display must not lose the replies
            logger.exception("progress callback failed; no further progress is reported")
            self.report = None
