"""Prefect tasks for reporting: the round summary as table and markdown artifacts in the Prefect UI."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from fair_core.evaluation import accuracy_markdown, accuracy_rows, run_accuracy_rows, write_accuracy_plot
from fair_core.plots import loss_plot, write_review_plot
from fair_core.refs import RoundRef
from fair_core.store import RunStore
from fair_core.summary import round_summary, summary_markdown
from tasks.logs import task_logger


def artifact_key(*parts: object) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


@task(name="summarize-round")
def summarize_round(where: RoundRef, teachers: list[str], accuracy_before: float | None = None) -> dict:
    """Summary numbers of a round, stored in the manifest and published as artifacts (never cached)."""
    summary = round_summary(where.store(), teachers)
    if summary["test_accuracy_before"] is None:
        summary["test_accuracy_before"] = accuracy_before
    accuracy = accuracy_rows(where.store())
    summary["dataset"] = ",".join(sorted({r["dataset"] for r in accuracy})) or None
    plot = write_accuracy_plot(RunStore(where.data_dir, where.run_id), upto=where.round)
    reviews = write_review_plot(where.store(), teachers)
    loss = loss_plot(where.store())
    summary["accuracy_plot"] = str(plot)
    summary["review_scores_plot"] = str(reviews) if reviews else None
    summary["loss_plot"] = str(loss[1]) if loss else None
    where.store().set_meta(summary=summary, accuracy=accuracy)
    publish_accuracy(
        where.run_id, run_accuracy_rows(RunStore(where.data_dir, where.run_id), where.round), plot
    )
    key = artifact_key("fair", where.run_id, "round", where.round)
    # one row per figure: a round's few dozen numbers read down a page, not across it
    figures = [{"figure": name, "value": value} for name, value in summary.items()]
    create_table_artifact(figures, key=key, description=f"FAIR run {where.run_id}, round {where.round}")
    plots = {
        "accuracy per round": (plot.read_bytes(), plot),
        "peer-review scores received per teacher": (reviews.read_bytes(), reviews) if reviews else None,
        "training loss": loss,
    }
    create_markdown_artifact(
        round_report(where.run_id, where.round, summary, plots),
        key=f"{key}-report",
        description="Round report",
    )
    task_logger().info("round %d summary: %s", where.round, json.dumps(summary))
    return summary


def _embedded(title: str, png: bytes, path: Path) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"### {title}\n\n![{title}](data:image/png;base64,{data})\n\nFile: `{path}`\n"


def round_report(
    run_id: str, round_index: int, summary: dict, plots: dict[str, tuple[bytes, Path] | None]
) -> str:
    """Markdown of one round: its summary table, then each plot embedded as a data URI with its path on
    disk (a plot that does not exist yet, e.g. no reviews or no training, is named with a note)."""
    table = {k: v for k, v in summary.items() if not k.endswith("_plot")}
    lines = [summary_markdown([table], f"FAIR run {run_id}: round {round_index}"), "## Plots", ""]
    for title, plot in plots.items():
        lines.append(_embedded(title, *plot) if plot else f"### {title}\n\nNot available in this round.\n")
    lines.append(f"Whole run as one HTML page: `fair report {run_id}`.\n")
    return "\n".join(lines)


def accuracy_report(run_id: str, rows: list[dict], plot: Path) -> str:
    """Markdown: the accuracy plot embedded as a data URI (Prefect 3.8's UI renders markdown images as an
    `<img>` with the link as its source, so the plot shows on the run's Artifacts tab with no file server),
    its path on disk, and the accuracy table per round and dataset."""
    png = base64.b64encode(plot.read_bytes()).decode("ascii")
    return (
        f"# FAIR run {run_id}: student accuracy per round\n\n"
        f"![accuracy per round](data:image/png;base64,{png})\n\n"
        f"Plot file: `{plot}`\n\n{accuracy_markdown(rows)}"
    )


def publish_accuracy(run_id: str, rows: list[dict], plot: Path) -> None:
    """Accuracy per round and dataset as a table artifact, and the plot in a markdown artifact."""
    key = artifact_key("fair", run_id, "accuracy")
    create_table_artifact(rows, key=key, description=f"FAIR run {run_id}: accuracy per round and dataset")
    create_markdown_artifact(
        accuracy_report(run_id, rows, plot), key=f"{key}-plot", description="Accuracy per round (plot)"
    )


@task(name="summarize-run")
def summarize_run(run_id: str, summaries: list[dict]) -> str:
    """All rounds of a run as one markdown artifact, with the accuracy plot when there is one."""
    rows = [{k: v for k, v in s.items() if not k.endswith("_plot")} for s in summaries]
    markdown = summary_markdown(rows, f"FAIR run {run_id}")
    plot = Path(summaries[-1].get("accuracy_plot") or "") if summaries else None
    if plot is not None and plot.is_file():
        png = base64.b64encode(plot.read_bytes()).decode("ascii")
        markdown += f"\n![accuracy per round](data:image/png;base64,{png})\n\nPlot file: `{plot}`\n"
    create_markdown_artifact(markdown, key=artifact_key("fair", run_id, "summary"), description="All rounds")
    return markdown
