"""Round summaries computed from the stored tables: accuracy (with n and a 95% Wilson interval), mistakes,
calls, acceptance per teacher; and their display form."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from fair_core.evaluation import accuracy
from fair_core.stats import Proportion, format_rate, of_rows, proportion
from fair_core.store.parquet import RoundStore

#: `teacher_calls.status` values of a call that got no usable reply.
FAILED = ("error", "fatal")

#: Every accuracy of a summary and its companions: rate key -> (correct key, n key). Each rate also has
#: `<rate>_low` / `<rate>_high`, its 95% Wilson interval (None without answers).
RATES = {
    "train_accuracy": ("train_correct", "train_questions"),
    "test_accuracy_before": ("test_correct_before", "test_n_before"),
    "test_accuracy_after": ("test_correct_after", "test_n_after"),
}


def rate_fields(key: str, rate: Proportion) -> dict[str, Any]:
    """The summary fields of accuracy `key` (a RATES key): the rate, correct, n, interval bounds."""
    correct, n = RATES[key]
    return {key: rate.rate, correct: rate.k, n: rate.n, f"{key}_low": rate.low, f"{key}_high": rate.high}


def summary_rate(summary: Mapping[str, Any], key: str) -> Proportion | None:
    """Accuracy `key` of a summary as a Proportion (None when the summary has no counts for it, e.g. one
    saved before counts were kept, or an accuracy that is not known)."""
    correct, n = RATES[key]
    if summary.get(correct) is None or not summary.get(n):
        return None
    return proportion(int(summary[correct]), int(summary[n]))


#: Companion keys that the display form folds into the accuracy they belong to.
COMPANIONS = frozenset(
    k for key, (correct, n) in RATES.items() for k in (correct, n, f"{key}_low", f"{key}_high")
) - {"train_questions"}


def display_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary for people: each accuracy as "62.5% (20/32, 95% CI 45.3-77.1%)" when its counts are
    known, its companion keys (correct, n, interval bounds) folded into it; other values unchanged."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if key in COMPANIONS:
            continue
        rate = summary_rate(summary, key) if key in RATES else None
        out[key] = format_rate(rate) if rate is not None else value
    return out


def call_mode(call: Mapping[str, Any]) -> str:
    """How a call's reply came: `online`, `batch` or `cache` (rows without a mode: from `cached`)."""
    return str(call.get("mode") or ("cache" if call.get("cached") else "online"))


def call_counts(calls: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """`teacher_calls` (rows), `requests_sent` (to a provider, online or batch), `from_cache` (the reply
    cache, a repeat of a request inside one run included) and `failed_calls` (status error or fatal: for a
    replayed committee, the calls its recording does not have); with a replayed committee also
    `replayed_calls` (answered from the recording, nothing sent)."""
    modes = Counter(call_mode(c) for c in calls)
    counts = {
        "teacher_calls": len(calls),
        "requests_sent": modes["online"] + modes["batch"],
        "from_cache": modes["cache"],
        "failed_calls": sum(c["status"] in FAILED for c in calls),
    }
    if modes["replay"]:
        counts["replayed_calls"] = modes["replay"]
    return counts


def round_summary(store: RoundStore, teachers: Sequence[str]) -> dict[str, Any]:
    """One row of numbers per round (flat, so it fits a table artifact and a Parquet/CSV export)."""
    outputs = store.rows_if_present("student_outputs")
    calls = store.rows_if_present("teacher_calls")
    acceptance = store.rows_if_present("acceptance")
    samples = store.rows_if_present("training_samples")
    before, after = store.rows_if_present("baseline_evaluation"), store.rows_if_present("evaluation")
    summary: dict[str, Any] = {
        "round": store.round,
        "student": outputs[0]["model"] if outputs else None,
        "train_questions": len(outputs),
        "train_accuracy": accuracy(outputs),
        "mistakes": len(store.rows_if_present("mistakes")),
        "test_accuracy_before": accuracy(before),
        "test_accuracy_after": accuracy(after),
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
    answers = {"train_accuracy": outputs, "test_accuracy_before": before, "test_accuracy_after": after}
    for key, rows in answers.items():  # n and the 95% interval of each accuracy (None: not known here)
        correct, n = RATES[key]
        rate = of_rows(rows)
        summary[correct] = rate.k if rows else None
        summary[n] = rate.n if rows or key == "train_accuracy" else None
        summary[f"{key}_low"], summary[f"{key}_high"] = rate.low, rate.high
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
    """USD paid in this round (`cost_usd`, cached replies cost 0), per teacher (`teacher_cost_<t>_usd`),
    per wire protocol (`cost_<provider>_usd`, kept for old readers) and per role, and what the round's
    replies cost when first obtained (`billed_usd`). Rows written before costs were kept count 0."""
    out: dict[str, Any] = {"cost_usd": _usd(calls), "billed_usd": _usd(calls, "billed_usd")}
    for teacher in sorted({_teacher(c) for c in calls}):
        out[f"{TEACHER_COST}{teacher}_usd"] = _usd([c for c in calls if _teacher(c) == teacher])
    for provider in sorted({c["provider"] for c in calls}):
        out[f"cost_{provider}_usd"] = _usd([c for c in calls if c["provider"] == provider])
    for role in ROLES:
        out[f"cost_{role}_usd"] = _usd([c for c in calls if c["role"] == role])
    out["batch_calls"] = sum(call_mode(c) == "batch" for c in calls)
    return out


#: Summary key prefix of a teacher's cost: `teacher_cost_<teacher>_usd`.
TEACHER_COST = "teacher_cost_"
ROLES = ("feedback", "rationale", "review")


def teacher_costs(summary: Mapping[str, Any]) -> dict[str, float]:
    """Teacher name -> USD paid, from a summary's `teacher_cost_<t>_usd` keys (empty for old summaries)."""
    return {
        k[len(TEACHER_COST) : -len("_usd")]: float(v or 0.0)
        for k, v in summary.items()
        if k.startswith(TEACHER_COST) and k.endswith("_usd")
    }


def _teacher(call: Mapping[str, Any]) -> str:
    return str(call.get("teacher") or "-")


def _models(calls: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(sorted({str(c.get("model")) for c in calls if c.get("model")})) or "-"


def _call_numbers(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "calls": len(rows),
        **{k: v for k, v in call_counts(rows).items() if k != "teacher_calls"},
        "prompt_tokens": sum(int(c["prompt_tokens"] or 0) for c in rows),
        "completion_tokens": sum(int(c["completion_tokens"] or 0) for c in rows),
    }


def cost_rows(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Teacher calls per teacher and role (with the teacher's provider and model): calls, sent, from
    cache, failures, tokens, USD paid and billed."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for call in calls:
        groups.setdefault((_teacher(call), str(call["role"])), []).append(call)
    return [
        {
            "teacher": teacher,
            "provider": ", ".join(sorted({str(c["provider"]) for c in rows})),
            "model": _models(rows),
            "role": role,
            **_call_numbers(rows),
            "cost_usd": _usd(rows),
            "billed_usd": _usd(rows, "billed_usd"),
        }
        for (teacher, role), rows in sorted(groups.items())
    ]


def teacher_cost_rows(
    calls: Sequence[Mapping[str, Any]], models: Mapping[str, tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """One row per teacher (all roles): provider and model (`models`, from the config, fills what old
    rows lack), calls, sent, from cache, failures, tokens, USD paid per role, paid and billed."""
    models = models or {}
    groups: dict[str, list[Mapping[str, Any]]] = {t: [] for t in models}
    for call in calls:
        groups.setdefault(_teacher(call), []).append(call)
    out = []
    for teacher, rows in groups.items():
        provider, model = models.get(teacher, ("-", "-"))
        row = {
            "teacher": teacher,
            "provider": ", ".join(sorted({str(c["provider"]) for c in rows})) or provider,
            "model": _models(rows) if any(c.get("model") for c in rows) else model,
            **_call_numbers(rows),
        }
        row |= {f"cost_{r}_usd": _usd([c for c in rows if c["role"] == r]) for r in ROLES}
        out.append(row | {"cost_usd": _usd(rows), "billed_usd": _usd(rows, "billed_usd")})
    return out


#: What people read for a summary key (`label`); keys named after a teacher are labelled by `label`.
LABELS = {
    "round": "round",
    "state": "state",
    "student": "student model",
    "dataset": "dataset",
    "train_questions": "training questions",
    "train_accuracy": "student accuracy (training split)",
    "mistakes": "mistakes",
    "test_accuracy_before": "test accuracy before the round",
    "test_accuracy_after": "test accuracy after the round",
    "teacher_calls": "teacher calls",
    "requests_sent": "requests sent to a provider",
    "from_cache": "replies from the cache",
    "failed_calls": "failed calls",
    "replayed_calls": "replayed calls",
    "batch_calls": "calls through a batch API",
    "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens",
    "cost_usd": "teacher cost paid in this run",
    "billed_usd": "teacher cost when first obtained",
    "rationales": "rationales judged",
    "rationales_accepted": "rationales accepted",
    "rationale_samples": "rationale training samples",
    "feedback_samples": "feedback training samples",
    "accuracy_plot": "accuracy plot",
    "review_scores_plot": "review scores plot",
    "loss_plot": "loss plot",
}


def label(key: str) -> str:
    """A summary key for people: 'mistakes', 'cost of teacher gpt', 'acceptance of gpt's rationales'."""
    if key in LABELS:
        return LABELS[key]
    if key.startswith(TEACHER_COST) and key.endswith("_usd"):
        return f"cost of teacher {key[len(TEACHER_COST) : -4]}"
    if key.startswith("cost_") and key.endswith("_usd"):
        name = key[5:-4]
        return f"cost of {name} calls" if name in ROLES else f"cost over the {name} API"
    for prefix, text in (
        ("accepted_", "rationales accepted from {}"),
        ("rationales_", "rationales judged from {}"),
        ("acceptance_", "acceptance of {}'s rationales"),
    ):
        if key.startswith(prefix):
            return text.format(key[len(prefix) :])
    return key.replace("_", " ")
