"""Prefect tasks for reporting: the round summary as table and markdown artifacts in the Prefect UI, and
the comparison of several runs (HTML file and artifacts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from fair_core.committee_stats import committee_stats
from fair_core.evaluation import accuracy_rows, run_accuracy_rows
from fair_core.refs import RoundRef
from fair_core.report.committee import committee_markdown
from fair_core.report.compare import Variant, compare_runs
from fair_core.report.compare_render import comparison_html, comparison_markdown, variant_rows
from fair_core.report.markdown import accuracy_report, round_report, run_report
from fair_core.report.plots import loss_plot, write_accuracy_plot, write_review_plot
from fair_core.report.summary import display_summary, rate_fields, round_summary, teacher_cost_rows
from fair_core.stats import of_rows
from fair_core.store import RunStore
from fair_core.store.parquet import RoundStore, atomic_write_bytes
from tasks.logs import task_logger


def artifact_key(*parts: object) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


@task(name="summarize-round")
def summarize_round(where: RoundRef, teachers: list[str], accuracy_before: float | None = None) -> dict:
    """Summary numbers of a round, stored in the manifest and published as artifacts (never cached)."""
    store, run = where.store(), RunStore(where.data_dir, where.run_id)
    summary = round_summary(store, teachers)
    if summary["test_accuracy_before"] is None:
        summary["test_accuracy_before"] = accuracy_before
        # round k > 0 starts from round k-1's student: its evaluation gives the n and interval of "before"
        previous = run.round(where.round - 1).rows_if_present("evaluation") if where.round > 0 else []
        rate = of_rows(previous)
        if accuracy_before is not None and rate.rate is not None and abs(rate.rate - accuracy_before) < 1e-12:
            summary.update(rate_fields("test_accuracy_before", rate))
    accuracy = accuracy_rows(store)
    summary["dataset"] = ",".join(sorted({r["dataset"] for r in accuracy})) or None
    run_accuracy = run_accuracy_rows(run, where.round)
    plot = write_accuracy_plot(run, run_accuracy)
    reviews = write_review_plot(store, teachers)
    loss = loss_plot(store)
    summary["accuracy_plot"] = str(plot)
    summary["review_scores_plot"] = str(reviews) if reviews else None
    summary["loss_plot"] = str(loss[1]) if loss else None
    store.set_meta(summary=summary, accuracy=accuracy)
    publish_accuracy(where.run_id, run_accuracy, plot)
    key = artifact_key("fair", where.run_id, "round", where.round)
    # one row per figure: a round's few dozen numbers read down a page, not across it
    figures = [{"figure": name, "value": value} for name, value in display_summary(summary).items()]
    create_table_artifact(figures, key=key, description=f"FAIR run {where.run_id}, round {where.round}")
    plots = {
        "accuracy per round": (plot.read_bytes(), plot),
        "peer-review scores received per teacher": (reviews.read_bytes(), reviews) if reviews else None,
        "training loss": loss,
    }
    committee = committee_markdown(committee_stats(store)) if store.exists("rationales") else ""
    create_markdown_artifact(
        round_report(where.run_id, where.round, summary, plots, round_costs(store)) + committee,
        key=f"{key}-report",
        description="Round report",
    )
    task_logger().info("round %d summary: %s", where.round, json.dumps(summary))
    return summary


def round_costs(store: RoundStore) -> list[dict]:
    """Cost per teacher of a round, with each teacher's provider and model from the round's config."""
    teachers = (store.manifest().get("config") or {}).get("teachers") or []
    models = {str(t["name"]): (str(t.get("provider", "-")), str(t.get("model", "-"))) for t in teachers}
    return teacher_cost_rows(store.rows_if_present("teacher_calls"), models)


def publish_accuracy(run_id: str, rows: list[dict], plot: Path) -> None:
    """Accuracy per round and dataset as a table artifact, and the plot in a markdown artifact."""
    key = artifact_key("fair", run_id, "accuracy")
    create_table_artifact(rows, key=key, description=f"FAIR run {run_id}: accuracy per round and dataset")
    create_markdown_artifact(
        accuracy_report(run_id, rows, plot.read_bytes(), plot),
        key=f"{key}-plot",
        description="Accuracy per round (plot)",
    )


@task(name="summarize-run")
def summarize_run(run_id: str, summaries: list[dict]) -> str:
    """All rounds of a run as one markdown artifact, with the accuracy plot when there is one."""
    plot = Path(summaries[-1].get("accuracy_plot") or "") if summaries else None
    markdown = run_report(run_id, summaries, (plot.read_bytes(), plot) if plot and plot.is_file() else None)
    create_markdown_artifact(markdown, key=artifact_key("fair", run_id, "summary"), description="All rounds")
    return markdown


@task(name="compare-runs")
def publish_comparison(
    data_dir: str,
    variants: list[Variant],
    out: str,
    reference: str | None = None,
    key: str = "fair-comparison",
) -> str:
    """Compare the variants' runs: the HTML page written to `out`, a table artifact (one row per run) and
    a markdown artifact with both plots (`key`, `key`-report). Returns the markdown (never cached)."""
    comparison = compare_runs(data_dir, variants, reference)
    atomic_write_bytes(Path(out), comparison_html(comparison).encode("utf-8"))
    key = artifact_key(key)
    create_table_artifact(variant_rows(comparison), key=key, description=f"Comparison; page: {out}")
    markdown = comparison_markdown(comparison, plots=True) + f"\nHTML page: `{out}`\n"
    create_markdown_artifact(markdown, key=f"{key}-report", description="Comparison report")
    return markdown
