"""What a teacher call is about and what it gave: PlannedCall, the `teacher_calls` rows, CallOutcome and the
errors a teacher stage raises; shared by the caller and the replayed committees."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fair_core.teachers.base import ChatRequest
from fair_core.teachers.cost import CallMode, Price, call_cost
from fair_core.teachers.engine import CallResult
from fair_core.teachers.ledger import BudgetExceeded

CallRole = Literal["feedback", "rationale", "review"]
#: `progress(done, total, info)`: requests done of total and a short status line.
Progress = Callable[[int, int, str], None]
STATUSES = ("ok", "refused", "error", "fatal")


class TeacherUnavailable(RuntimeError):
    """A teacher cannot work at all (bad key, no access): the round goes on without it; not retried."""


class TeacherBatchIncomplete(RuntimeError):
    """Some requests of a batch failed after their retries; finished replies are kept in the cache."""


@dataclass(frozen=True)
class PlannedCall:
    """One request to send, with what it is about (for the `teacher_calls` table)."""

    request: ChatRequest
    role: CallRole
    example_id: str
    target: str | None = None


def response_cache_path(data_dir: str | Path) -> Path:
    """Where a data directory keeps the teacher response cache (and its sidecar tables)."""
    return Path(data_dir).expanduser() / "cache" / "teacher_responses.sqlite"


def call_rows(
    planned: Sequence[PlannedCall],
    results: Sequence[CallResult],
    prices: Mapping[str, Price | None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the `teacher_calls` table (one per request, reply text, usage and cost included).

    `mode` is how the reply came: `online`, `batch` or `cache` (also a repeat of a request already in this
    batch). `cost_usd` is what this run paid for the row (0 from the cache); `billed_usd` is what the reply
    cost when it was obtained (batch replies at the batch price), so cached rows keep their price visible.
    Teachers without a price (see `fair_core.teachers.cost`) cost 0.
    """
    rows = []
    paid: set[str] = set()
    for plan, result in zip(planned, results, strict=True):
        response = result.response
        key = plan.request.key()
        origin: CallMode = "batch" if response.meta.get("mode") == "batch" else "online"
        billed = 0.0
        if response.status in ("ok", "refused"):
            price = (prices or {}).get(plan.request.teacher)
            billed = call_cost(price, response.prompt_tokens, response.completion_tokens, origin)
        mode: CallMode = "cache" if result.cached or key in paid else origin
        if mode != "cache":
            paid.add(key)
        rows.append(
            {
                "request_key": key,
                "teacher": plan.request.teacher,
                "role": plan.role,
                "example_id": plan.example_id,
                "target": plan.target,
                "provider": plan.request.provider,
                "model": plan.request.model,
                "status": response.status,
                "text": response.text,
                "error": response.error,
                "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens,
                "latency_s": response.latency_s,
                "cached": result.cached,
                "attempts": result.attempts,
                "mode": mode,
                "cost_usd": 0.0 if mode == "cache" else billed,
                "billed_usd": billed,
            }
        )
    return rows


@dataclass
class CallOutcome:
    """The `teacher_calls` rows of one `TeacherCaller.call`, its `batch_jobs` rows (None when online),
    and what `check` judges: the budget stop message, the teacher's description, the run's spend."""

    calls: list[dict[str, Any]]
    jobs: list[dict[str, Any]] | None
    label: str = ""
    teacher: str = ""
    run_total_usd: float = 0.0
    budget_stop: str | None = field(default=None, repr=False)

    def statuses(self) -> dict[str, int]:
        return {s: sum(r["status"] == s for r in self.calls) for s in STATUSES}

    def describe(self) -> str:
        """The one log line: calls, cache hits, statuses, paid now and the run's total."""
        cached = sum(r["cached"] for r in self.calls)
        paid = sum(r["cost_usd"] for r in self.calls)
        return (
            f"{self.label}: {len(self.calls)} calls, {cached} from cache, statuses {self.statuses()}, "
            f"${paid:.4f} paid (run total ${self.run_total_usd:.4f})"
        )

    def check(self) -> None:
        """Raise `BudgetExceeded`, `TeacherUnavailable` (a fatal error) or `TeacherBatchIncomplete` (errors
        after retries), in that order; return when every request has a reply."""
        if self.budget_stop is not None:
            raise BudgetExceeded(self.budget_stop)
        by_status = self.statuses()
        if by_status["fatal"]:
            first = next(r["error"] for r in self.calls if r["status"] == "fatal")
            raise TeacherUnavailable(f"{self.teacher} stopped: {first}")
        if by_status["error"]:
            first = next(r["error"] for r in self.calls if r["status"] == "error")
            raise TeacherBatchIncomplete(
                f"{self.teacher} {self.label}: {by_status['error']} of {len(self.calls)} requests failed "
                f"after retries (first: {first}). Finished replies are cached; a retry sends only the "
                "missing ones."
            )
