"""Comparing runs: test accuracy with its interval, paired differences against a reference variant (McNemar),
spread over seeds, cost, teacher calls, training samples, and leave-one-teacher-out attribution."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fair_core.report.summary import call_counts
from fair_core.stats import Paired, Proportion, Spread, of_rows, over_seeds, paired
from fair_core.store.parquet import RoundStore, RunStore

#: Written by a sweep beside a run's config: {"label": ..., "seed": ..., "meta": {...}}.
SWEEP_FILE = "sweep.json"


class CompareError(ValueError):
    """A run cannot be compared (unknown, no finished round, a bad sweep record); the message names it."""


@dataclass(frozen=True)
class Variant:
    """One run of a comparison: its label (runs sharing a label are seeds of one variant), run id, seed and
    free-form meta (`without_teacher: NAME` marks a leave-one-teacher-out variant)."""

    label: str
    run_id: str
    seed: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RoundNumbers:
    """One finished round of a run: test accuracy after it (student_k+1), per question, and what it cost."""

    round: int
    accuracy: Proportion
    answers: dict[str, bool]
    cost_usd: float  # paid by this run (a reply from the cache costs 0)
    billed_usd: float  # what the round's replies cost when they were obtained, whoever paid
    billed_by_teacher: dict[str, float]
    cost_by_teacher: dict[str, float]
    teacher_calls: int
    requests_sent: int
    from_cache: int
    training_samples: int
    rationale_samples: int
    feedback_samples: int


@dataclass
class RunNumbers:
    """A variant's run: its finished rounds (in order), the round-0 baseline, rounds left out unfinished."""

    variant: Variant
    rounds: list[RoundNumbers]
    baseline: Proportion | None = None
    unfinished: list[int] = field(default_factory=list)

    @property
    def last(self) -> RoundNumbers:
        return self.rounds[-1]

    def round(self, index: int) -> RoundNumbers | None:
        return next((r for r in self.rounds if r.round == index), None)

    def total(self, name: str) -> float:
        """A RoundNumbers count or cost summed over the run's finished rounds."""
        return sum(getattr(r, name) for r in self.rounds)

    def billed(self, teacher: str) -> float:
        """What `teacher`'s replies (all roles, all rounds) cost when they were obtained."""
        return sum(r.billed_by_teacher.get(teacher, 0.0) for r in self.rounds)


@dataclass
class PairedResult:
    """A run against its reference run on one round's test questions."""

    label: str
    run_id: str
    reference_run: str
    round: int
    paired: Paired
    last: bool = False  # the last round both runs finished


@dataclass
class LabelNumbers:
    """One variant over its seeds: last-round accuracy and, against the reference, the paired difference."""

    label: str
    runs: list[RunNumbers]
    accuracy: Spread
    difference: Spread | None  # None for the reference itself or without a pair


@dataclass
class TeacherValue:
    """Leave one teacher out: the accuracy the student loses without it (reference minus variant, per seed
    pair) and what that teacher cost in the reference run(s), and their ratio."""

    label: str
    teacher: str
    accuracy_lost: Spread
    cost_usd: float
    lost_per_dollar: float | None
    pairs: list[Paired] = field(default_factory=list)  # last round, variant against reference, per seed


@dataclass
class Comparison:
    """Every number of `fair compare`: runs, per-label summaries, paired results, leave-one-out values."""

    reference: str
    runs: list[RunNumbers]
    labels: list[LabelNumbers]
    paired: list[PairedResult]
    leave_one_out: list[TeacherValue]
    notes: list[str] = field(default_factory=list)

    def last_paired(self, run_id: str) -> PairedResult | None:
        return next((p for p in self.paired if p.run_id == run_id and p.last), None)


def _usd(rows: Sequence[Mapping[str, Any]], column: str) -> float:
    return round(sum(float(r.get(column) or 0.0) for r in rows), 6)


def _per_teacher(calls: Sequence[Mapping[str, Any]], column: str) -> dict[str, float]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for call in calls:
        groups[str(call["teacher"])].append(call)
    return {t: _usd(rows, column) for t, rows in sorted(groups.items())}


def round_numbers(store: RoundStore) -> RoundNumbers:
    """The comparison's numbers of one round, from its tables."""
    answers = store.rows_if_present("evaluation")
    calls = store.rows_if_present("teacher_calls")
    samples = store.rows_if_present("training_samples")
    counts = call_counts(calls)
    return RoundNumbers(
        round=store.round,
        accuracy=of_rows(answers),
        answers={str(a["example_id"]): bool(a["correct"]) for a in answers},
        cost_usd=_usd(calls, "cost_usd"),
        billed_usd=_usd(calls, "billed_usd"),
        billed_by_teacher=_per_teacher(calls, "billed_usd"),
        cost_by_teacher=_per_teacher(calls, "cost_usd"),
        teacher_calls=counts["teacher_calls"],
        requests_sent=counts["requests_sent"],
        from_cache=counts["from_cache"],
        training_samples=len(samples),
        rationale_samples=sum(s["task"] == "rationale" for s in samples),
        feedback_samples=sum(s["task"] == "feedback" for s in samples),
    )


def _missing_run(run: RunStore) -> CompareError:
    parent = run.root.parent
    known = sorted(p.name for p in parent.glob("*") if p.is_dir()) if parent.is_dir() else []
    return CompareError(
        f"run {run.run_id!r} not found: {run.root} does not exist "
        f"(runs under {parent}: {', '.join(known) or 'none'}; check --data-dir)"
    )


def run_numbers(data_dir: str | Path, variant: Variant) -> RunNumbers:
    """A variant's finished rounds; CompareError naming the run when it is unknown or has none."""
    run = RunStore(data_dir, variant.run_id)
    if not run.root.is_dir():
        raise _missing_run(run)
    finished, unfinished = [], []
    for k in run.rounds():
        (finished if run.round(k).manifest().get("summary") else unfinished).append(k)
    if not finished:
        raise CompareError(
            f"run {variant.run_id!r} has no finished round under {run.root} "
            f"(rounds started: {', '.join(map(str, unfinished)) or 'none'}); finish it with "
            f"`fair resume {variant.run_id}` or leave it out"
        )
    baseline = run.round(0).rows_if_present("baseline_evaluation") if 0 in finished else []
    return RunNumbers(
        variant=variant,
        rounds=[round_numbers(run.round(k)) for k in finished],
        baseline=of_rows(baseline) if baseline else None,
        unfinished=unfinished,
    )


def read_variant(data_dir: str | Path, run_id: str) -> Variant:
    """A run as a Variant: label, seed and meta from its `sweep.json` when a sweep wrote one, else the run
    id as label. CompareError naming the run when it does not exist or the file is not valid."""
    run = RunStore(data_dir, run_id)
    if not run.root.is_dir():
        raise _missing_run(run)
    path = run.root / SWEEP_FILE
    if not path.is_file():
        return Variant(run_id, run_id)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        seed = record.get("seed")
        return Variant(
            str(record.get("label") or run_id),
            run_id,
            int(seed) if seed is not None else None,
            dict(record.get("meta") or {}),
        )
    except (ValueError, TypeError, AttributeError) as err:
        raise CompareError(f"run {run_id!r}: {path} is not a valid sweep record ({err})") from None


def _keyed(runs: Sequence[RunNumbers]) -> dict[Any, RunNumbers]:
    """The runs of one label by seed (a run without a seed: its position among the label's runs)."""
    out: dict[Any, RunNumbers] = {}
    for position, run in enumerate(runs):
        key = run.variant.seed if run.variant.seed is not None else f"#{position}"
        if key in out:
            raise CompareError(
                f"runs {out[key].variant.run_id!r} and {run.variant.run_id!r} are both label "
                f"{run.variant.label!r} with seed {key}; give them different labels or seeds"
            )
        out[key] = run
    return out


def _pairs(runs: Sequence[RunNumbers], refs: Sequence[RunNumbers]) -> list[tuple[RunNumbers, RunNumbers]]:
    """Each run with its reference run: the same seed, or the only reference run there is."""
    mine, theirs = _keyed(runs), _keyed(refs)
    if len(theirs) == 1:
        (only,) = theirs.values()
        return [(run, only) for run in mine.values()]
    return [(run, theirs[key]) for key, run in mine.items() if key in theirs]


def _paired_rounds(label: str, run: RunNumbers, ref: RunNumbers) -> list[PairedResult]:
    common = [r.round for r in run.rounds if ref.round(r.round) is not None]
    out = []
    for k in common:
        mine, theirs = run.round(k), ref.round(k)
        assert mine is not None and theirs is not None
        result = paired(theirs.answers, mine.answers)
        out.append(PairedResult(label, run.variant.run_id, ref.variant.run_id, k, result, k == common[-1]))
    return out


def compare_runs(
    data_dir: str | Path, variants: Sequence[Variant], reference: str | None = None
) -> Comparison:
    """Compare the runs of `variants` under `<data_dir>/runs/` against the reference label (default: the
    first variant's). Raises CompareError naming the run at fault (unknown, no finished round) or an
    unknown reference label."""
    if not variants:
        raise CompareError("nothing to compare: give at least one run")
    seen: set[str] = set()
    for v in variants:
        if v.run_id in seen:
            raise CompareError(f"run {v.run_id!r} is given twice")
        seen.add(v.run_id)
    runs = [run_numbers(data_dir, v) for v in variants]
    by_label: dict[str, list[RunNumbers]] = defaultdict(list)
    for run in runs:
        by_label[run.variant.label].append(run)
    for members in by_label.values():
        _keyed(members)  # one run per label and seed
    reference = variants[0].label if reference is None else reference
    if reference not in by_label:
        raise CompareError(f"reference {reference!r} is none of the labels: {', '.join(by_label)}")
    notes = [
        f"run {r.variant.run_id}: round(s) {', '.join(map(str, r.unfinished))} not finished, left out"
        for r in runs
        if r.unfinished
    ]
    refs = by_label[reference]
    results: list[PairedResult] = []
    labels, values = [], []
    for label, members in by_label.items():
        pairs = [] if label == reference else _pairs(members, refs)
        if label != reference and len(pairs) < len(members):
            notes.append(f"{label}: {len(members) - len(pairs)} run(s) have no reference run of their seed")
        found = [p for run, ref in pairs for p in _paired_rounds(label, run, ref)]
        results += found
        last_pairs = [p.paired for p in found if p.last and p.paired.difference is not None]
        last = [d.difference for d in last_pairs if d.difference is not None]
        accuracy = over_seeds([r.last.accuracy.rate for r in members if r.last.accuracy.rate is not None])
        labels.append(LabelNumbers(label, members, accuracy, over_seeds(last) if pairs else None))
        teacher = (members[0].variant.meta or {}).get("without_teacher")
        if teacher and pairs:
            cost = sum(ref.billed(str(teacher)) for _, ref in pairs) / len(pairs)
            lost = over_seeds([-d for d in last])
            per_dollar = lost.mean / cost if lost.mean is not None and cost > 0 else None
            values.append(TeacherValue(label, str(teacher), lost, cost, per_dollar, last_pairs))
    return Comparison(reference, runs, labels, results, values, notes)
