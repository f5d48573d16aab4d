"""Accuracy of answer rows, and accuracy per round and per dataset from a run's stored answer tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from fair_core.store.parquet import RoundStore, RunStore

#: Answer tables of a round: (table, examples table, what it measures, the student's index).
#: Round k's student_outputs are student_k on the training split; its evaluation is student_k+1.
ANSWER_TABLES = (
    ("baseline_evaluation", "test_examples", "test", 0),
    ("student_outputs", "examples", "train", 0),
    ("evaluation", "test_examples", "test", 1),
)


def accuracy(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """The share of answer rows whose `correct` is true; None when there are no rows.

    Never rounded: stored values keep full precision, displays format them."""
    return sum(bool(r["correct"]) for r in rows) / len(rows) if rows else None


def accuracy_rows(store: RoundStore) -> list[dict[str, Any]]:
    """One row per answer table and dataset of a round: student index, split, dataset, counts, accuracy.

    The dataset of an answer is its example's `dataset` field, so a table mixing datasets is split up.
    """
    out = []
    for table, examples_table, split, offset in ANSWER_TABLES:
        answers = store.rows_if_present(table)
        if not answers:
            continue
        dataset_of = {e["id"]: e["dataset"] for e in store.rows_if_present(examples_table)}
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for answer in answers:
            groups[dataset_of.get(answer["example_id"], "?")].append(answer)
        for dataset, rows in sorted(groups.items()):
            out.append(
                {
                    "round": store.round,
                    "table": table,
                    "student": store.round + offset,
                    "split": split,
                    "dataset": dataset,
                    "model": answers[0]["model"],
                    "examples": len(rows),
                    "correct": sum(bool(r["correct"]) for r in rows),
                    "accuracy": accuracy(rows),
                }
            )
    return out


def run_accuracy_rows(run: RunStore, upto: int | None = None) -> list[dict[str, Any]]:
    """`accuracy_rows` of every round of a run (up to round `upto`), in round order."""
    return [row for k in run.rounds() if upto is None or k <= upto for row in accuracy_rows(run.round(k))]
