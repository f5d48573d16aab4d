"""Round summaries computed from the stored tables: accuracy, mistakes, calls, acceptance per teacher."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fair_core.store.parquet import RoundStore, StoreError


def _rows(store: RoundStore, name: str) -> list[dict[str, Any]]:
    try:
        return store.rows(name) if store.exists(name) else []
    except StoreError:
        return []


def _accuracy(rows: Sequence[dict[str, Any]]) -> float | None:
    return round(sum(bool(r["correct"]) for r in rows) / len(rows), 4) if rows else None


def round_summary(store: RoundStore, teachers: Sequence[str]) -> dict[str, Any]:
    """One row of numbers per round (flat, so it fits a table artifact and a Parquet/CSV export)."""
    outputs = _rows(store, "student_outputs")
    calls = _rows(store, "teacher_calls")
    acceptance = _rows(store, "acceptance")
    samples = _rows(store, "training_samples")
    summary: dict[str, Any] = {
        "round": store.round,
        "student": outputs[0]["model"] if outputs else None,
        "train_questions": len(outputs),
        "train_accuracy": _accuracy(outputs),
        "mistakes": len(_rows(store, "mistakes")),
        "test_accuracy_before": _accuracy(_rows(store, "baseline_evaluation")),
        "test_accuracy_after": _accuracy(_rows(store, "evaluation")),
        "teacher_calls": len(calls),
        "cache_hits": sum(bool(c["cached"]) for c in calls),
        "failed_calls": sum(c["status"] in ("error", "fatal") for c in calls),
        "prompt_tokens": sum(int(c["prompt_tokens"] or 0) for c in calls),
        "completion_tokens": sum(int(c["completion_tokens"] or 0) for c in calls),
        "rationales_accepted": sum(bool(a["accepted"]) for a in acceptance),
        "rationale_samples": sum(s["task"] == "rationale" for s in samples),
        "feedback_samples": sum(s["task"] == "feedback" for s in samples),
    }
    accepted = Counter(a["teacher"] for a in acceptance if a["accepted"])
    for teacher in teachers:
        summary[f"accepted_{teacher}"] = accepted.get(teacher, 0)
    return summary


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def summary_markdown(rows: Sequence[dict[str, Any]], title: str = "FAIR rounds") -> str:
    """A markdown table of round summaries (columns of the first row)."""
    if not rows:
        return f"# {title}\n\nNo rounds yet.\n"
    columns = list(rows[0])
    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"
