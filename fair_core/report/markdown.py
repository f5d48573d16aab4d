"""Markdown of the report artifacts: round summary tables, the round report, accuracy and run reports
(every accuracy with its n and 95% interval)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fair_core.report.plots import data_uri
from fair_core.report.summary import display_summary, label

#: A plot of a report: its PNG and the file it lives in (None: not available in this round).
Plot = tuple[bytes, Path] | None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def without_plots(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary less its `*_plot` paths (they go under the plots, not in the table), in display form
    (`display_summary`: each accuracy with its n and 95% interval)."""
    return display_summary({k: v for k, v in summary.items() if not k.endswith("_plot")})


def interval_cell(row: Mapping[str, Any]) -> str:
    """The 95% interval of an accuracy row ("45.3-77.1%"; over seeds: "t 41.0-45.2%"; "-" when none)."""
    low, high = row.get("accuracy_low"), row.get("accuracy_high")
    if low is None or high is None:
        return "-"
    prefix = "t " if row.get("interval") == "t over seeds" else ""
    return f"{prefix}{100 * low:.1f}-{100 * high:.1f}%"


def summary_markdown(rows: Sequence[Mapping[str, Any]], title: str = "FAIR rounds") -> str:
    """A markdown table of round summaries (columns of the first row)."""
    if not rows:
        return f"# {title}\n\nNo rounds yet.\n"
    columns = list(rows[0])
    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def accuracy_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The accuracy rows as a markdown table (student k = the model after k rounds), with the 95% interval
    (Wilson; over seeds: Student t of the mean)."""
    lines = [
        "| round | student | split | dataset | examples | correct | accuracy | 95% CI |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['round']} | student_{r['student']} | {r['split']} | {r['dataset']} | {r['examples']} | "
        f"{r['correct']} | {r['accuracy']:.1%} | {interval_cell(r)} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def embedded_plot(title: str, png: bytes, path: Path) -> str:
    """A markdown section with the plot embedded as a data URI and its file on disk."""
    return f"### {title}\n\n![{title}]({data_uri(png)})\n\nFile: `{path}`\n"


def figures_markdown(summary: Mapping[str, Any]) -> list[str]:
    """A summary as a two-column markdown table, one readable label per row (`label`), accuracies with n
    and 95% interval."""
    lines = ["| figure | value |", "|---|---|"]
    for key, value in without_plots(summary).items():
        if key != "round":
            lines.append(
                f"| {_md(label(key))} | {_md(_money(value) if key.endswith('_usd') else _cell(value))} |"
            )
    return lines


def _money(value: Any) -> str:
    return "-" if value is None else f"${float(value):.4f}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def teacher_cost_markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Cost per teacher (`summary.teacher_cost_rows`) as a markdown table: provider, model, calls, sent,
    from cache, failed, USD paid per role, paid and billed."""
    if not rows:
        return ["No teacher calls in this round."]
    head = (
        "| teacher | provider | model | calls | sent | from cache | failed | feedback | rationale | review "
    )
    lines = [head + "| paid | billed |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r["teacher"], r["provider"], r["model"], r["calls"], r["requests_sent"], r["from_cache"]]
        cells += [r["failed_calls"], *(_money(r.get(f"cost_{x}_usd")) for x in ("feedback", "rationale"))]
        cells += [_money(r.get("cost_review_usd")), _money(r["cost_usd"]), _money(r["billed_usd"])]
        lines.append("| " + " | ".join(_md(str(c)) for c in cells) + " |")
    return lines


def round_report(
    run_id: str,
    round_index: int,
    summary: Mapping[str, Any],
    plots: Mapping[str, Plot],
    costs: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """Markdown of one round: its figures (one labelled row each), the cost per teacher (`costs`:
    `summary.teacher_cost_rows`), then each plot embedded as a data URI with its path on disk (a plot that
    does not exist yet, e.g. no reviews or no training, is named with a note)."""
    lines = [f"# FAIR run {run_id}: round {round_index}", "", *figures_markdown(summary), ""]
    if costs is not None:
        lines += ["## Cost per teacher", "", *teacher_cost_markdown(costs), ""]
    lines += ["## Plots", ""]
    for title, plot in plots.items():
        lines.append(
            embedded_plot(title, *plot) if plot else f"### {title}\n\nNot available in this round.\n"
        )
    lines.append(f"Whole run as one HTML page: `fair report {run_id}`.\n")
    return "\n".join(lines)


def accuracy_report(run_id: str, rows: Sequence[Mapping[str, Any]], png: bytes, path: Path) -> str:
    """Markdown: the accuracy plot embedded as a data URI (Prefect 3.8's UI renders markdown images as an
    `<img>` with the link as its source, so the plot shows on the run's Artifacts tab with no file server),
    its path on disk, and the accuracy table per round and dataset."""
    return (
        f"# FAIR run {run_id}: student accuracy per round\n\n"
        f"![accuracy per round]({data_uri(png)})\n\n"
        f"Plot file: `{path}`\n\n{accuracy_markdown(rows)}"
    )


def run_report(run_id: str, summaries: Sequence[Mapping[str, Any]], accuracy_plot: Plot = None) -> str:
    """All rounds of a run as one markdown table, with the accuracy plot embedded when there is one."""
    markdown = summary_markdown([without_plots(s) for s in summaries], f"FAIR run {run_id}")
    if accuracy_plot is not None:
        png, path = accuracy_plot
        markdown += f"\n![accuracy per round]({data_uri(png)})\n\nPlot file: `{path}`\n"
    return markdown
