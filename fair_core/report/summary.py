"""Round summaries computed from the stored tables: accuracy, mistakes, calls, acceptance per teacher."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from fair_core.evaluation import accuracy
from fair_core.store.parquet import RoundStore

#: `teacher_calls.status` values of a call that got no usable reply.
FAILED = ("error", "fatal")


def call_mode(call: Mapping[str, Any]) -> str:
    """How a call's reply came: `online`, `batch` or `cache` (rows without a mode: from `cached`)."""
    return str(call.get("mode") or ("cache" if call.get("cached") else "online"))


def call_counts(calls: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """`teacher_calls` (rows), `requests_sent` (to a provider, online or batch), `from_cache` (the reply
    cache, a repeat of a request inside one run included) and `failed_calls` (status error or fatal)."""
    modes = Counter(call_mode(c) for c in calls)
    return {
        "teacher_calls": len(calls),
        "requests_sent": modes["online"] + modes["batch"],
        "from_cache": modes["cache"],
        "failed_calls": sum(c["status"] in FAILED for c in calls),
    }


def round_summary(store: RoundStore, teachers: Sequence[str]) -> dict[str, Any]:
    """One row of numbers per round (flat, so it fits a table artifact and a Parquet/CSV export)."""
    outputs = store.rows_if_present("student_outputs")
    calls = store.rows_if_present("teacher_calls")
    acceptance = store.rows_if_present("acceptance")
    samples = store.rows_if_present("training_samples")
    summary: dict[str, Any] = {
        "round": store.round,
        "student": outputs[0]["model"] if outputs else None,
        "train_questions": len(outputs),
        "train_accuracy": accuracy(outputs),
        "mistakes": len(store.rows_if_present("mistakes")),
        "test_accuracy_before": accuracy(store.rows_if_present("baseline_evaluation")),
        "test_accuracy_after": accuracy(store.rows_if_present("evaluation")),
        **call_counts(calls),
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


def acceptance_summary(acceptance: Sequence[Mapping[str, Any]], teachers: Sequence[str]) -> dict[str, Any]:
    """Per author teacher: `accepted_<t>` rationales, `rationales_<t>` judged, `acceptance_<t>` their ratio
    (None when the teacher had no rationale judged). Teachers not in `teachers` but in the table follow."""
    accepted = Counter(a["teacher"] for a in acceptance if a["accepted"])
    total = Counter(a["teacher"] for a in acceptance)
    out: dict[str, Any] = {}
    for teacher in dict.fromkeys([*teachers, *sorted(total)]):
        out[f"accepted_{teacher}"] = accepted.get(teacher, 0)
        out[f"rationales_{teacher}"] = total.get(teacher, 0)
        out[f"acceptance_{teacher}"] = accepted[teacher] / total[teacher] if total[teacher] else None
    return out


def acceptance_rows(round_index: int, acceptance: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per author teacher of a round: rationales judged, accepted, their ratio."""
    out = []
    for teacher in sorted({str(a["teacher"]) for a in acceptance}):
        mine = [a for a in acceptance if a["teacher"] == teacher]
        accepted = sum(bool(a["accepted"]) for a in mine)
        row = {"round": round_index, "teacher": teacher, "rationales": len(mine), "accepted": accepted}
        out.append(row | {"acceptance": accepted / len(mine)})
    return out


def _usd(rows: Sequence[Mapping[str, Any]], column: str = "cost_usd") -> float:
    return round(sum(float(r.get(column) or 0.0) for r in rows), 6)


def cost_summary(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """USD paid in this round (`cost_usd`, cached replies cost 0), per provider and per role, and what the
    round's replies cost when first obtained (`billed_usd`). Rows written before costs were kept count 0."""
    out: dict[str, Any] = {"cost_usd": _usd(calls), "billed_usd": _usd(calls, "billed_usd")}
    for provider in sorted({c["provider"] for c in calls}):
        out[f"cost_{provider}_usd"] = _usd([c for c in calls if c["provider"] == provider])
    for role in ("feedback", "rationale", "review"):
        out[f"cost_{role}_usd"] = _usd([c for c in calls if c["role"] == role])
    out["batch_calls"] = sum(call_mode(c) == "batch" for c in calls)
    return out


def cost_rows(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Teacher calls per provider and role: calls, sent, from cache, failures, tokens, USD paid and billed."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for call in calls:
        groups.setdefault((str(call["provider"]), str(call["role"])), []).append(call)
    return [
        {
            "provider": provider,
            "role": role,
            "calls": len(rows),
            **{k: v for k, v in call_counts(rows).items() if k != "teacher_calls"},
            "prompt_tokens": sum(int(c["prompt_tokens"] or 0) for c in rows),
            "completion_tokens": sum(int(c["completion_tokens"] or 0) for c in rows),
            "cost_usd": _usd(rows),
            "billed_usd": _usd(rows, "billed_usd"),
        }
        for (provider, role), rows in sorted(groups.items())
    ]
