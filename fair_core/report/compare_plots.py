"""Comparison plots as PNG: last-round test accuracy per variant, test accuracy per round (95% bars)."""

from __future__ import annotations

from fair_core.report.compare import Comparison, RunNumbers
from fair_core.report.plots import _figure_class, _png, error_bars


def _name(run: RunNumbers) -> str:
    seed = run.variant.seed
    return run.variant.label if seed is None else f"{run.variant.label} (seed {seed})"


def plot_variant_accuracy(c: Comparison, title: str = "Test accuracy per variant") -> bytes:
    """One column per label: each run's last-round accuracy with its Wilson 95% interval (seeds side by
    side); for a label with several seeds, their mean with the t 95% interval as a black bar."""
    figure = _figure_class()(figsize=(max(4.8, 1.3 * len(c.labels) + 2), 4.2), dpi=100)
    axes = figure.add_subplot()
    means = False
    for x, label in enumerate(c.labels):
        runs = label.runs
        width = 0.5 / max(len(runs), 1)
        for i, run in enumerate(runs):
            rate = run.last.accuracy
            if rate.rate is None:
                continue
            offset = (i - (len(runs) - 1) / 2) * width
            bars = error_bars([rate.rate], [rate.low], [rate.high])
            axes.errorbar([x + offset], [rate.rate], yerr=bars, fmt="o", capsize=3, color=f"C{x % 10}")
        spread = label.accuracy
        if spread.n > 1 and spread.mean is not None:
            bars = error_bars([spread.mean], [spread.low], [spread.high])
            label_text = None if means else "mean over seeds (t 95% interval)"
            axes.errorbar(
                [x],
                [spread.mean],
                yerr=bars,
                fmt="s",
                color="black",
                capsize=6,
                markersize=7,
                label=label_text,
            )
            means = True
    axes.set_xticks(range(len(c.labels)), [label.label for label in c.labels], rotation=20, ha="right")
    axes.set_xlim(-0.6, len(c.labels) - 0.4)
    axes.set_ylim(-0.03, 1.03)
    axes.set_ylabel("test accuracy, last round (bars: 95% interval)")
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    if means:
        axes.legend(loc="best", fontsize=8)
    return _png(figure)


def plot_round_accuracy(c: Comparison, title: str = "Test accuracy per round") -> bytes:
    """One line per run: the student's test accuracy after each round (student_0 = the round-0 baseline
    when it was evaluated) with Wilson 95% error bars."""
    figure = _figure_class()(figsize=(6.8, 4.2), dpi=100)
    axes = figure.add_subplot()
    students: set[int] = set()
    colors = {label.label: f"C{i % 10}" for i, label in enumerate(c.labels)}
    styles = ("-", "--", ":", "-.")
    seen: dict[str, int] = {}
    width = 0.3 / max(len(c.runs), 1)  # runs side by side at each student, so the bars do not overlap
    for i, run in enumerate(c.runs):
        style = styles[seen.get(run.variant.label, 0) % len(styles)]
        seen[run.variant.label] = seen.get(run.variant.label, 0) + 1
        offset = (i - (len(c.runs) - 1) / 2) * width
        points = [(0, run.baseline)] if run.baseline is not None else []
        points += [(r.round + 1, r.accuracy) for r in run.rounds]
        points = [(x, p) for x, p in points if p.rate is not None]
        if not points:
            continue
        xs = [x + offset for x, _ in points]
        ys = [float(p.rate) for _, p in points if p.rate is not None]
        bars = error_bars(ys, [p.low for _, p in points], [p.high for _, p in points])
        color = colors[run.variant.label]
        axes.errorbar(
            xs,
            ys,
            yerr=bars,
            marker="o",
            capsize=3,
            label=_name(run),
            color=color,
            linestyle=style,
            alpha=0.85,
        )
        students.update(x for x, _ in points)
    ticks = sorted(students) or [0]
    axes.set_xticks(ticks, [f"student_{k}" for k in ticks])
    axes.set_ylim(-0.03, 1.03)
    axes.set_ylabel("test accuracy (bars: 95% interval)")
    axes.set_xlabel("student (after k rounds)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if c.runs:
        axes.legend(loc="best", fontsize=8)
    return _png(figure)
