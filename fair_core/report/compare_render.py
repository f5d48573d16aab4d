"""The comparison report as rows, markdown (Prefect artifact, CLI) and one self-contained HTML page."""

from __future__ import annotations

import dataclasses
import html
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from fair_core.report.compare import Comparison, PairedResult, TeacherValue, Variant, compare_runs
from fair_core.report.compare_plots import plot_round_accuracy, plot_variant_accuracy
from fair_core.report.html_page import CSS
from fair_core.report.plots import data_uri
from fair_core.stats import Paired, format_p, format_rate, format_spread
from fair_core.store.parquet import atomic_write_bytes

#: What the statistics mean, under every rendering of a comparison.
EXPLANATION = (
    "Accuracy: the student's test accuracy after the run's last finished round, correct/n, with a 95% "
    "Wilson score interval. vs reference: the paired difference on the test questions both runs answered "
    "(this run minus the reference, in percentage points), with a 95% paired-bootstrap interval; fixed = "
    "wrong in the reference and right here, broken = the reverse; McNemar p: the exact McNemar test on "
    "those discordant questions (small p: the difference is unlikely from chance alone). Over seeds: mean, "
    "sample standard deviation and a 95% Student-t interval of the mean. Paid: what this run paid (cached "
    "replies cost 0); billed: what its replies cost when first obtained. Without a teacher: the accuracy "
    "lost without it (reference minus variant) per dollar the teacher was billed in the reference run."
)


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _difference(d: Paired | None) -> str:
    if d is None or d.difference is None:
        return "-"
    if d.low is None or d.high is None:
        return f"{100 * d.difference:+.1f} pts"
    return f"{100 * d.difference:+.1f} pts (95% CI {100 * d.low:+.1f} to {100 * d.high:+.1f})"


def _paired_cells(p: PairedResult | None, is_reference: bool) -> dict[str, str]:
    if is_reference:
        return {"vs reference": "reference", "fixed / broken": "", "both right / wrong": "", "McNemar p": ""}
    d = p.paired if p is not None else None
    return {
        "vs reference": _difference(d),
        "fixed / broken": f"{d.fixed} / {d.broken}" if d is not None and d.n else "-",
        "both right / wrong": f"{d.both_right} / {d.both_wrong}" if d is not None and d.n else "-",
        "McNemar p": format_p(d.p_value) if d is not None else "-",
    }


def variant_rows(c: Comparison) -> list[dict[str, str]]:
    """One row per run: last-round accuracy, the paired difference against its reference run, cost, teacher
    calls and training samples (summed over the run's finished rounds)."""
    rows = []
    for run in c.runs:
        v = run.variant
        rows.append(
            {
                "variant": v.label,
                "seed": "-" if v.seed is None else str(v.seed),
                "run": v.run_id,
                "rounds": str(len(run.rounds)),
                "test accuracy": format_rate(run.last.accuracy),
                **_paired_cells(c.last_paired(v.run_id), v.label == c.reference),
                "paid": _usd(run.total("cost_usd")),
                "billed": _usd(run.total("billed_usd")),
                "sent": str(int(run.total("requests_sent"))),
                "from cache": str(int(run.total("from_cache"))),
                "training samples": str(int(run.total("training_samples"))),
            }
        )
    return rows


def round_rows(c: Comparison) -> list[dict[str, str]]:
    """One row per run and finished round: accuracy after it, the paired difference, cost, calls, samples."""
    found = {(p.run_id, p.round): p for p in c.paired}
    rows = []
    for run in c.runs:
        v = run.variant
        for r in run.rounds:
            rows.append(
                {
                    "variant": v.label,
                    "seed": "-" if v.seed is None else str(v.seed),
                    "round": str(r.round),
                    "test accuracy": format_rate(r.accuracy),
                    **_paired_cells(found.get((v.run_id, r.round)), v.label == c.reference),
                    "paid": _usd(r.cost_usd),
                    "billed": _usd(r.billed_usd),
                    "billed per teacher": ", ".join(f"{t} {_usd(u)}" for t, u in r.billed_by_teacher.items())
                    or "-",
                    "sent": str(r.requests_sent),
                    "from cache": str(r.from_cache),
                    "training samples": f"{r.training_samples} ({r.rationale_samples} rationale, "
                    f"{r.feedback_samples} feedback)",
                }
            )
    return rows


def seed_rows(c: Comparison) -> list[dict[str, str]]:
    """One row per label with several runs: accuracy over seeds and the mean paired difference."""
    return [
        {
            "variant": label.label,
            "seeds": str(len(label.runs)),
            "test accuracy over seeds": format_spread(label.accuracy),
            "vs reference over seed pairs": "reference"
            if label.label == c.reference
            else format_spread(label.difference, points=True),
        }
        for label in c.labels
        if len(label.runs) > 1 or (label.difference is not None and label.difference.n > 1)
    ]


def _lost(t: TeacherValue) -> str:
    """Accuracy lost without a teacher: over seeds, or one pair's difference negated with its interval."""
    if len(t.pairs) != 1:
        return format_spread(t.accuracy_lost, points=True)
    d = t.pairs[0]
    low, high = (-d.high, -d.low) if d.low is not None and d.high is not None else (None, None)
    flipped = dataclasses.replace(d, difference=-(d.difference or 0.0), low=low, high=high)
    return f"{_difference(flipped)}, McNemar p={format_p(d.p_value)}"


def teacher_rows(c: Comparison) -> list[dict[str, str]]:
    """Leave-one-teacher-out rows: accuracy lost without the teacher, its cost, points lost per dollar."""
    return [
        {
            "variant": t.label,
            "without teacher": t.teacher,
            "accuracy lost": _lost(t),
            "teacher billed in reference": _usd(t.cost_usd),
            "accuracy per dollar": "-"
            if t.lost_per_dollar is None
            else f"{100 * t.lost_per_dollar:.3g} pts/$",
        }
        for t in c.leave_one_out
    ]


def _md_table(rows: Sequence[Mapping[str, str]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r[c].replace("|", "/") for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _sections(c: Comparison) -> list[tuple[str, list[dict[str, str]]]]:
    return [
        ("Variants (last finished round)", variant_rows(c)),
        ("Over seeds", seed_rows(c)),
        ("Without a teacher", teacher_rows(c)),
        ("Per round", round_rows(c)),
    ]


def comparison_markdown(c: Comparison, title: str = "FAIR comparison", plots: bool = False) -> str:
    """Markdown of a comparison: the tables (empty ones left out), notes and what the statistics mean;
    `plots`: both plots embedded as data URIs after the first table (for a Prefect artifact)."""
    parts = [f"# {title}", "", f"Reference: **{c.reference}**.", ""]
    for i, (name, rows) in enumerate(_sections(c)):
        if rows:
            parts += [f"## {name}", "", _md_table(rows)]
        if plots and i == 0:
            parts += [
                f"![test accuracy per variant]({data_uri(plot_variant_accuracy(c))})",
                "",
                f"![test accuracy per round]({data_uri(plot_round_accuracy(c))})",
                "",
            ]
    parts += [f"- {note}" for note in c.notes]
    parts += ["", EXPLANATION, ""]
    return "\n".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_table(rows: Sequence[Mapping[str, str]]) -> str:
    columns = list(rows[0])
    head = "".join(f'<th class="text">{_e(c)}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="text">{_e(r[c])}</td>' for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(png: bytes, alt: str) -> str:
    return f'<figure><img alt="{_e(alt)}" src="{data_uri(png)}"></figure>'


def comparison_html(c: Comparison, title: str = "FAIR comparison") -> str:
    """The comparison as one self-contained HTML page: tables, both plots inline as PNG, notes."""
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>Reference: <b>{_e(c.reference)}</b>. Generated {_e(time.strftime('%Y-%m-%d %H:%M:%S %z'))}.</p>",
    ]
    sections = _sections(c)
    body += [f"<h2>{_e(sections[0][0])}</h2>", _html_table(sections[0][1])]
    body += ["<h2>Plots</h2>", _figure(plot_variant_accuracy(c), "test accuracy per variant")]
    body.append(_figure(plot_round_accuracy(c), "test accuracy per round"))
    for name, rows in sections[1:]:
        if rows:
            body += [f"<h2>{_e(name)}</h2>", _html_table(rows)]
    if c.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in c.notes) + "</ul>")
    body += ["<h2>What the numbers mean</h2>", f"<p>{_e(EXPLANATION)}</p>"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_comparison(
    data_dir: str | Path, variants: Sequence[Variant], out: Path, reference: str | None = None
) -> Path:
    """`compare_runs` rendered by `comparison_html` and written to `out` (atomically); returns `out`."""
    page = comparison_html(compare_runs(data_dir, variants, reference))
    atomic_write_bytes(Path(out), page.encode("utf-8"))
    return Path(out)
