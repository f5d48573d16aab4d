"""Report plots as PNG: accuracy per round (95% error bars), review-score histogram per teacher, the loss
curve (each task's loss smoothed over its raw points, epoch marks)."""

from __future__ import annotations

import base64
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.refs import TRAIN_RECORD
from fair_core.review import MAX_SCORE, MIN_SCORE
from fair_core.store.parquet import RoundStore, RunStore, atomic_write_bytes
from fair_core.training.card import PLOT_FILE as LOSS_PLOT

ACCURACY_PLOT = "accuracy.png"
REVIEW_PLOT = "review_scores.png"
#: The histogram's bins: every valid score, then `INVALID` for missing, unparseable or out-of-range ones.
SCORES: tuple[int, ...] = tuple(range(MIN_SCORE, MAX_SCORE + 1))
INVALID = "invalid"


def data_uri(png: bytes) -> str:
    """A PNG as a `data:` URI, for an image embedded in markdown or HTML with no file server."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _figure_class() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure


def error_bars(values: Sequence[float], lows: Sequence[float | None], highs: Sequence[float | None]) -> Any:
    """matplotlib's `yerr` (2 x N distances below and above) of values with optional interval bounds; a
    point without an interval gets no bar."""
    below = [v - lo if lo is not None else 0.0 for v, lo in zip(values, lows, strict=True)]
    above = [hi - v if hi is not None else 0.0 for v, hi in zip(values, highs, strict=True)]
    return [[max(b, 0.0) for b in below], [max(a, 0.0) for a in above]]


def plot_accuracy(rows: Sequence[Mapping[str, Any]], title: str = "Student accuracy per round") -> bytes:
    """A PNG of accuracy against the student's round index, one line per split and dataset, with each
    point's 95% interval (`accuracy_low`/`accuracy_high`) as an error bar (Agg backend)."""
    series: dict[tuple[str, str], dict[int, tuple[float, float | None, float | None]]] = defaultdict(dict)
    for row in rows:
        point = (float(row["accuracy"]), row.get("accuracy_low"), row.get("accuracy_high"))
        series[(row["split"], row["dataset"])][int(row["student"])] = point
    figure = _figure_class()(figsize=(6.4, 4.0), dpi=100)
    axes = figure.add_subplot()
    for (split, dataset), points in sorted(series.items()):
        xs = sorted(points)
        ys = [points[x][0] for x in xs]
        yerr = error_bars(ys, [points[x][1] for x in xs], [points[x][2] for x in xs])
        axes.errorbar(xs, ys, yerr=yerr, marker="o", capsize=3, label=f"{dataset} {split}")
    students = sorted({int(r["student"]) for r in rows}) or [0]
    axes.set_xticks(students, [f"student_{k}" for k in students])
    axes.set_ylim(-0.03, 1.03)  # points at 0 or 1 stay visible
    axes.set_ylabel("accuracy (bars: 95% interval)")
    axes.set_xlabel("student (after k rounds)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if series:
        axes.legend(loc="best")
    return _png(figure)


def write_accuracy_plot(run: RunStore, rows: Sequence[Mapping[str, Any]]) -> Path:
    """`<run>/accuracy.png` from the run's accuracy rows (`fair_core.evaluation.run_accuracy_rows`)."""
    path = run.root / ACCURACY_PLOT
    atomic_write_bytes(path, plot_accuracy(rows, f"FAIR run {run.run_id}"))
    return path


def review_score_counts(
    reviews: Iterable[Mapping[str, Any]], teachers: Sequence[str] = ()
) -> dict[str, dict[str, int]]:
    """Scores received by each author teacher's rationales: {author: {"1": n, ..., "5": n, "invalid": n}}.

    A review counts in its score's bin when it is valid and the score within 1..5, else in "invalid".
    `teachers` are listed first (with zero counts when they received nothing), other authors after them.
    """
    reviews = list(reviews)
    authors = list(dict.fromkeys([*teachers, *sorted({str(r["author"]) for r in reviews})]))
    counts = {a: {**{str(s): 0 for s in SCORES}, INVALID: 0} for a in authors}
    for review in reviews:
        score = review.get("score")
        ok = review.get("valid", True) and score is not None and MIN_SCORE <= score <= MAX_SCORE
        counts[str(review["author"])][str(int(score)) if ok else INVALID] += 1
    return counts


def plot_review_scores(counts: Mapping[str, Mapping[str, int]], title: str = "Peer-review scores") -> bytes:
    """A PNG with one bar chart per author teacher: how many reviews gave its rationales each score."""
    figure_class = _figure_class()
    from matplotlib.ticker import MaxNLocator

    teachers = list(counts) or ["(no reviews)"]
    bins = [*(str(s) for s in SCORES), INVALID]
    figure = figure_class(figsize=(max(3.2 * len(teachers), 4.8), 3.4), dpi=100)
    axes = figure.subplots(1, len(teachers), sharey=True, squeeze=False)[0]
    for ax, teacher in zip(axes, teachers, strict=True):
        values = [counts.get(teacher, {}).get(b, 0) for b in bins]
        colors = ["tab:blue"] * len(SCORES) + ["tab:gray"]
        ax.bar(range(len(bins)), values, color=colors)
        ax.set_xticks(range(len(bins)), [*bins[:-1], "n/a"])
        ax.set_title(f"{teacher} ({sum(values)} reviews)", fontsize=10)
        ax.set_xlabel("score received")
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("reviews")
    figure.suptitle(title)
    return _png(figure)


def write_review_plot(store: RoundStore, teachers: Sequence[str] = ()) -> Path | None:
    """`round=<k>/review_scores.png` from the round's reviews; None (nothing written) without reviews."""
    reviews = store.rows_if_present("reviews")
    if not reviews:
        return None
    path = store.path / REVIEW_PLOT
    title = f"Peer-review scores received, {store.run_id} round {store.round}"
    png = plot_review_scores(review_score_counts(reviews, teachers), title)
    if not path.is_file() or path.read_bytes() != png:  # a resumed run leaves a finished round's files be
        atomic_write_bytes(path, png)
    return path


def trained_model_dir(store: RoundStore) -> Path:
    """Where the round's fine-tune saves student_k+1 (with train_result.json and loss.png)."""
    return store.path / "student" / "model"


def train_record(store: RoundStore) -> dict[str, Any] | None:
    """The round's training record (train_result.json), or None before training finished or without it."""
    path = trained_model_dir(store) / TRAIN_RECORD
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


Curve = list[tuple[int, float]]
#: The loss curve's series: each task's own loss (training logs since per-task logging), else the weighted
#: loss; the weighted loss (the optimised objective) beside the tasks.
TASK_SERIES = {"rationale": "rationale_losses", "feedback": "feedback_losses"}
WEIGHTED = "weighted"


@dataclass(frozen=True)
class LossSeries:
    """What the loss curve shows: raw and smoothed loss per series (rationale, feedback, weighted),
    validation points, and the step at which each epoch ends (epoch k -> step)."""

    raw: dict[str, Curve]
    smoothed: dict[str, Curve]
    eval_losses: Curve
    epoch_ends: list[tuple[int, int]]


def smooth(points: Sequence[tuple[int, float]], span: int | None = None) -> Curve:
    """Exponential moving average (debiased, as TensorBoard's) with beta = 1 - 2 / (span + 1); span
    defaults to a sixth of the points (at least 3, at most 100)."""
    if not points:
        return []
    span = span or min(max(len(points) // 6, 3), 100)
    beta = 1 - 2 / (span + 1)
    out, average = [], 0.0
    for index, (step, value) in enumerate(points, start=1):
        average = beta * average + (1 - beta) * value
        out.append((step, average / (1 - beta**index)))
    return out


def epoch_ends(epochs: Sequence[tuple[int, float]]) -> list[tuple[int, int]]:
    """(k, the first logged step whose epoch is at or past k) for every whole epoch k reached."""
    ends: list[tuple[int, int]] = []
    for step, epoch in sorted(epochs):
        k = math.floor(epoch + 1e-6)
        while k >= (ends[-1][0] + 1 if ends else 1):
            ends.append(((ends[-1][0] + 1) if ends else 1, step))
    return ends


def _curve(values: Iterable[Sequence[Any]] | None) -> Curve:
    return [(int(s), float(v)) for s, v in values or []]


def loss_series(record: Mapping[str, Any]) -> LossSeries:
    """The loss curve's data from a training record (train_result.json, `TrainResult.record()`)."""
    raw = {task: _curve(record.get(key)) for task, key in TASK_SERIES.items()}
    raw = {task: curve for task, curve in raw.items() if curve}
    raw[WEIGHTED] = _curve(record.get("losses"))
    return LossSeries(
        raw=raw,
        smoothed={name: smooth(curve) for name, curve in raw.items()},
        eval_losses=_curve(record.get("eval_losses")),
        epoch_ends=epoch_ends(_curve(record.get("epochs"))),
    )


COLORS = {"rationale": "tab:blue", "feedback": "tab:orange", WEIGHTED: "tab:gray", "validation": "tab:green"}


def plot_loss_curve(series: LossSeries, title: str = "training loss") -> bytes:
    """A PNG of each task's loss (faint points: every step; line: smoothed), the weighted loss (dashed),
    the validation loss and a dotted line where each epoch ends."""
    figure = _figure_class()(figsize=(7.2, 4.2), dpi=100)
    axes = figure.add_subplot()
    per_task = any(name != WEIGHTED for name in series.raw)
    for name, points in series.raw.items():
        if not points:
            continue
        color = COLORS.get(name, "tab:purple")
        label = f"{name} loss" if name != WEIGHTED else "weighted loss (objective)"
        dashed = name == WEIGHTED and per_task
        axes.scatter(
            [s for s, _ in points], [v for _, v in points], s=8, color=color, alpha=0.3, linewidths=0
        )
        smoothed = series.smoothed[name]
        axes.plot(
            [s for s, _ in smoothed],
            [v for _, v in smoothed],
            "--" if dashed else "-",
            color=color,
            linewidth=1 if dashed else 1.8,
            label=f"{label}, smoothed",
        )
    if series.eval_losses:
        points = series.eval_losses
        axes.plot(
            [s for s, _ in points],
            [v for _, v in points],
            "o-",
            color=COLORS["validation"],
            linewidth=1.2,
            markersize=4,
            label="validation loss (weighted)",
        )
    for k, step in series.epoch_ends:
        axes.axvline(step, color="black", alpha=0.25, linestyle=":", linewidth=1)
        axes.annotate(
            f"epoch {k}",
            (step, 1),
            xycoords=("data", "axes fraction"),
            xytext=(-2, -2),
            textcoords="offset points",
            ha="right",
            va="top",
            fontsize=7,
            alpha=0.6,
            rotation=90,
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (per task: unweighted)" if per_task else "weighted loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if any(series.raw.values()) or series.eval_losses:
        axes.legend(loc="best", fontsize=8)
    return _png(figure)


def loss_plot(store: RoundStore) -> tuple[bytes, Path] | None:
    """The round's loss curve PNG, drawn from its training record (train_result.json), and the file it
    stands for: the trainer's loss.png if there, else the record; a round whose model has loss.png but no
    record gets that file; None when the round has no trained model."""
    path = trained_model_dir(store) / LOSS_PLOT
    record = train_record(store)
    if not record or not record.get("losses"):
        return (path.read_bytes(), path) if path.is_file() else None
    png = plot_loss_curve(loss_series(record), f"training loss, round {store.round}")
    return png, path if path.is_file() else trained_model_dir(store) / TRAIN_RECORD
