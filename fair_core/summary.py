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
        "cache_misses": sum(not c["cached"] for c in calls),
        "failed_calls": sum(c["status"] in ("error", "fatal") for c in calls),
        "prompt_tokens": sum(int(c["prompt_tokens"] or 0) for c in calls),
        "completion_tokens": sum(int(c["completion_tokens"] or 0) for c in calls),
        "rationales_accepted": sum(bool(a["accepted"]) for a in acceptance),
        "rationale_samples": sum(s["task"] == "rationale" for s in samples),
        "feedback_samples": sum(s["task"] == "feedback" for s in samples),
    }
    summary.update(cost_summary(calls))
    summary["rationales"] = len(acceptance)
    summary.update(acceptance_summary(acceptance, teachers))
    return summary


def acceptance_summary(acceptance: Sequence[dict[str, Any]], teachers: Sequence[str]) -> dict[str, Any]:
    """Per author teacher: `accepted_<t>` rationales, `rationales_<t>` judged, `acceptance_<t>` their ratio
    (None when the teacher had no rationale judged). Teachers not in `teachers` but in the table follow."""
    accepted = Counter(a["teacher"] for a in acceptance if a["accepted"])
    total = Counter(a["teacher"] for a in acceptance)
    out: dict[str, Any] = {}
    for teacher in dict.fromkeys([*teachers, *sorted(total)]):
        out[f"accepted_{teacher}"] = accepted.get(teacher, 0)
        out[f"rationales_{teacher}"] = total.get(teacher, 0)
        out[f"acceptance_{teacher}"] = (
            round(accepted[teacher] / total[teacher], 4) if total[teacher] else None
        )
    return out


def cost_summary(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """USD paid in this round (`cost_usd`, cached replies cost 0), per provider and per role, and what the
    round's replies cost when first obtained (`billed_usd`). Rows written before costs were kept count 0."""

    def usd(rows: Sequence[dict[str, Any]], column: str = "cost_usd") -> float:
        return round(sum(float(r.get(column) or 0.0) for r in rows), 6)

    out: dict[str, Any] = {"cost_usd": usd(calls), "billed_usd": usd(calls, "billed_usd")}
    for provider in sorted({c["provider"] for c in calls}):
        out[f"cost_{provider}_usd"] = usd([c for c in calls if c["provider"] == provider])
    for role in ("feedback", "rationale", "review"):
        out[f"cost_{role}_usd"] = usd([c for c in calls if c["role"] == role])
    out["batch_calls"] = sum(c.get("mode") == "batch" for c in calls)
    return out


def cost_rows(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Teacher calls per provider and role: calls, cache hits, failures, tokens, USD paid and billed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for call in calls:
        groups.setdefault((str(call["provider"]), str(call["role"])), []).append(call)
    return [
        {
            "provider": provider,
            "role": role,
            "calls": len(rows),
            "cache_hits": sum(bool(c["cached"]) for c in rows),
            "failed_calls": sum(c["status"] in ("error", "fatal") for c in rows),
            "prompt_tokens": sum(int(c["prompt_tokens"] or 0) for c in rows),
            "completion_tokens": sum(int(c["completion_tokens"] or 0) for c in rows),
            "cost_usd": round(sum(float(c.get("cost_usd") or 0.0) for c in rows), 6),
            "billed_usd": round(sum(float(c.get("billed_usd") or 0.0) for c in rows), 6),
        }
        for (provider, role), rows in sorted(groups.items())
    ]


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
