"""Accuracy per round and per dataset from the stored answer tables, and the accuracy-per-round plot."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fair_core.store.parquet import RoundStore, RunStore, StoreError

#: Answer tables of a round: (table, examples table, what it measures, the student's index).
#: Round k's student_outputs are student_k on the training split; its evaluation is student_k+1.
ANSWER_TABLES = (
    ("baseline_evaluation", "test_examples", "test", 0),
    ("student_outputs", "examples", "train", 0),
    ("evaluation", "test_examples", "test", 1),
)
PLOT_NAME = "accuracy.png"


def _rows(store: RoundStore, name: str) -> list[dict[str, Any]]:
    try:
        return store.rows(name) if store.exists(name) else []
    except StoreError:
        return []


def accuracy_rows(store: RoundStore) -> list[dict[str, Any]]:
    """One row per answer table and dataset of a round: student index, split, dataset, counts, accuracy.

    The dataset of an answer is its example's `dataset` field, so a table mixing datasets is split up.
    """
    out = []
    for table, examples_table, split, offset in ANSWER_TABLES:
        answers = _rows(store, table)
        if not answers:
            continue
        dataset_of = {e["id"]: e["dataset"] for e in _rows(store, examples_table)}
        groups: dict[str, list[bool]] = defaultdict(list)
        for answer in answers:
            groups[dataset_of.get(answer["example_id"], "?")].append(bool(answer["correct"]))
        for dataset, correct in sorted(groups.items()):
            out.append(
                {
                    "round": store.round,
                    "table": table,
                    "student": store.round + offset,
                    "split": split,
                    "dataset": dataset,
                    "model": answers[0]["model"],
                    "examples": len(correct),
                    "correct": sum(correct),
                    "accuracy": round(sum(correct) / len(correct), 4),
                }
            )
    return out


def run_accuracy_rows(run: RunStore, upto: int | None = None) -> list[dict[str, Any]]:
    """`accuracy_rows` of every round of a run (up to round `upto`), in round order."""
    return [row for k in run.rounds() if upto is None or k <= upto for row in accuracy_rows(run.round(k))]


def accuracy_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The accuracy rows as a markdown table (student k = the model after k rounds)."""
    lines = [
        "| round | student | split | dataset | examples | correct | accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['round']} | student_{r['student']} | {r['split']} | {r['dataset']} | {r['examples']} | "
        f"{r['correct']} | {r['accuracy']:.1%} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def plot_accuracy(rows: Sequence[dict[str, Any]], title: str = "Student accuracy per round") -> bytes:
    """A PNG of accuracy against the student's round index, one line per split and dataset (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    series: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for row in rows:
        series[(row["split"], row["dataset"])][int(row["student"])] = float(row["accuracy"])
    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    axes = figure.add_subplot()
    for (split, dataset), points in sorted(series.items()):
        xs = sorted(points)
        axes.plot(xs, [points[x] for x in xs], marker="o", label=f"{dataset} {split}")
    students = sorted({int(r["student"]) for r in rows}) or [0]
    axes.set_xticks(students, [f"student_{k}" for k in students])
    axes.set_ylim(-0.03, 1.03)  # points at 0 or 1 stay visible
    axes.set_ylabel("accuracy")
    axes.set_xlabel("student (after k rounds)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if series:
        axes.legend(loc="best")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def write_accuracy_plot(run: RunStore, upto: int | None = None) -> Path:
    """`<run>/accuracy.png` from the answer tables of the run's rounds (up to round `upto`)."""
    from fair_core.store.parquet import atomic_write_bytes

    path = run.root / PLOT_NAME
    atomic_write_bytes(path, plot_accuracy(run_accuracy_rows(run, upto), f"FAIR run {run.run_id}"))
    return path
