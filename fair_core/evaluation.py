"""Accuracy of answer rows, and accuracy per round and per dataset from a run's stored answer tables, with n
and a 95% interval (with `evaluation.seeds`, each seed's and their mean and spread)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from fair_core.stats import over_seeds, proportion
from fair_core.store.parquet import RoundStore, RunStore

#: Answer tables of a round: (table, examples table, what it measures, the student's index).
#: Round k's student_outputs are student_k on the training split; its evaluation is student_k+1.
ANSWER_TABLES = (
    ("baseline_evaluation", "test_examples", "test", 0),
    ("student_outputs", "examples", "train", 0),
    ("evaluation", "test_examples", "test", 1),
)

#: Tables of a sampled evaluation repeated per seed (`evaluation.seeds`): one part `seed-<seed>` per seed.
SEED_TABLES = (
    ("baseline_evaluation_seeds", "test_examples", "test", 0),
    ("evaluation_seeds", "test_examples", "test", 1),
)


def accuracy(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """The share of answer rows whose `correct` is true; None when there are no rows.

    Never rounded: stored values keep full precision, displays format them."""
    return sum(bool(r["correct"]) for r in rows) / len(rows) if rows else None


def accuracy_rows(store: RoundStore) -> list[dict[str, Any]]:
    """One row per answer table and dataset of a round: student index, split, dataset, counts, accuracy and
    its 95% Wilson interval (`accuracy_low`, `accuracy_high`, `interval: wilson`).

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
            rate = proportion(sum(bool(r["correct"]) for r in rows), len(rows))
            out.append(
                {
                    "round": store.round,
                    "table": table,
                    "student": store.round + offset,
                    "split": split,
                    "dataset": dataset,
                    "model": answers[0]["model"],
                    "examples": rate.n,
                    "correct": rate.k,
                    "accuracy": accuracy(rows),
                    "accuracy_low": rate.low,
                    "accuracy_high": rate.high,
                    "interval": rate.method,
                }
            )
    return out + seed_accuracy_rows(store)


def seed_parts(store: RoundStore, table: str) -> list[tuple[int, str]]:
    """(seed, part) of every seed part of a `*_seeds` table, by seed; [] when there is none."""
    folder = store.path / table
    found = []
    for path in folder.glob("seed-*.parquet") if folder.is_dir() else ():
        name = path.name.removesuffix(".parquet")
        try:
            found.append((int(name.removeprefix("seed-")), name))
        except ValueError:
            continue
    return sorted(found)


def seed_accuracy_rows(store: RoundStore) -> list[dict[str, Any]]:
    """One row per seed table and dataset of a round: the mean accuracy over the seeds (split "test, k
    seeds"), its sample standard deviation (`accuracy_std`, 0 for one seed), the 95% Student-t interval of
    that mean over the seeds (`accuracy_low`/`accuracy_high`, None for one seed; `interval: t over seeds`),
    `seeds` and each seed's accuracy (`seed_accuracies`, e.g. "0: 41.0%, 1: 43.3%"); examples and correct
    summed over the seeds."""
    out = []
    for table, examples_table, split, offset in SEED_TABLES:
        parts = seed_parts(store, table)
        if not parts:
            continue
        dataset_of = {e["id"]: e["dataset"] for e in store.rows_if_present(examples_table)}
        per_seed: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
        model = ""
        for seed, part in parts:
            rows = store.rows(table, part)
            model = model or (rows[0]["model"] if rows else "")
            for answer in rows:
                dataset = dataset_of.get(answer["example_id"], "?")
                per_seed[dataset].setdefault(seed, []).append(answer)
        for dataset, seeds in sorted(per_seed.items()):
            scores = {seed: accuracy(rows) or 0.0 for seed, rows in sorted(seeds.items())}
            values = list(scores.values())
            spread = over_seeds(values)
            out.append(
                {
                    "round": store.round,
                    "table": table,
                    "student": store.round + offset,
                    "split": f"{split}, {len(values)} seeds",
                    "dataset": dataset,
                    "model": model,
                    "examples": sum(len(rows) for rows in seeds.values()),
                    "correct": sum(bool(r["correct"]) for rows in seeds.values() for r in rows),
                    "accuracy": statistics.fmean(values),
                    "accuracy_low": spread.low,
                    "accuracy_high": spread.high,
                    "interval": "t over seeds",
                    "accuracy_std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "seeds": len(values),
                    "seed_accuracies": ", ".join(f"{seed}: {value:.1%}" for seed, value in scores.items()),
                }
            )
    return out


def run_accuracy_rows(run: RunStore, upto: int | None = None) -> list[dict[str, Any]]:
    """`accuracy_rows` of every round of a run (up to round `upto`), in round order."""
    return [row for k in run.rounds() if upto is None or k <= upto for row in accuracy_rows(run.round(k))]
