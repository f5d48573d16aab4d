"""Report plots as PNG: accuracy per round (95% error bars), review-score histogram per teacher, the loss
curve."""

from __future__ import annotations

import base64
import io
import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fair_core.refs import TRAIN_RECORD
from fair_core.review import MAX_SCORE, MIN_SCORE
from fair_core.store.parquet import RoundStore, RunStore, atomic_write_bytes
from fair_core.training.card import PLOT_FILE as LOSS_PLOT
from fair_core.training.card import plot_losses

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


def loss_plot(store: RoundStore) -> tuple[bytes, Path] | None:
    """The round's loss curve PNG and where it lives: the trainer's loss.png, else one redrawn from the
    losses in train_result.json (not written to disk); None when the round has no trained model."""
    path = trained_model_dir(store) / LOSS_PLOT
    if path.is_file():
        return path.read_bytes(), path
    record = train_record(store)
    if not record or not record.get("losses"):
        return None
    losses = [(int(s), float(v)) for s, v in record["losses"]]
    evals = [(int(s), float(v)) for s, v in record.get("eval_losses") or []]
    with tempfile.TemporaryDirectory() as tmp:
        drawn = plot_losses(Path(tmp) / LOSS_PLOT, losses, evals, f"training loss, round {store.round}")
        return drawn.read_bytes(), trained_model_dir(store) / TRAIN_RECORD
