"""Prefect tasks for reporting: the round summary as table and markdown artifacts in the Prefect UI."""

from __future__ import annotations

import json
import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from fair_core.refs import RoundRef
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
    where.store().set_meta(summary=summary)
    key = artifact_key("fair", where.run_id, "round", where.round)
    create_table_artifact([summary], key=key, description=f"FAIR run {where.run_id}, round {where.round}")
    create_markdown_artifact(
        summary_markdown([summary], f"FAIR run {where.run_id}: round {where.round}"),
        key=f"{key}-report",
        description="Round report",
    )
    task_logger().info("round %d summary: %s", where.round, json.dumps(summary))
    return summary


@task(name="summarize-run")
def summarize_run(run_id: str, summaries: list[dict]) -> str:
    """All rounds of a run as one markdown artifact."""
    markdown = summary_markdown(summaries, f"FAIR run {run_id}")
    create_markdown_artifact(markdown, key=artifact_key("fair", run_id, "summary"), description="All rounds")
    return markdown
