"""The round report artifacts: summary table with acceptance per teacher, markdown with the plots embedded."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from fair_core.refs import RoundRef
from fair_core.report.markdown import round_report
from tasks.report import artifact_key, summarize_round
from tests.core.report_store import EVIL, RUN_ID, TEACHERS, build_run


@flow(name="test-round-report")
def report_flow(where: RoundRef) -> dict:
    return summarize_round(where, TEACHERS)


def test_round_report_markdown_embeds_plots_and_names_missing_ones() -> None:
    plots = {"accuracy per round": (b"\x89PNG-a", Path("/r/accuracy.png")), "training loss": None}
    text = round_report("run-x", 2, {"round": 2, "mistakes": 3, "accuracy_plot": "/r/accuracy.png"}, plots)
    assert text.startswith("# FAIR run run-x: round 2") and "| mistakes |" in text
    assert "accuracy_plot" not in text  # paths go under the plots, not in the table
    assert "![accuracy per round](data:image/png;base64," in text and "File: `/r/accuracy.png`" in text
    assert "### training loss\n\nNot available in this round." in text


def test_summarize_round_publishes_table_and_markdown_with_three_plots(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    run = build_run(tmp_path)
    summary = report_flow(RoundRef(str(tmp_path), RUN_ID, 0))
    assert summary["review_scores_plot"] == str(run.round(0).path / "review_scores.png")
    assert summary["loss_plot"].endswith("train_result.json")  # no loss.png: redrawn from the record
    assert summary["acceptance_gpt"] == 1.0 and summary[f"rationales_{EVIL}"] == 2
    assert run.round(0).manifest()["summary"]["from_cache"] == 1

    key = artifact_key("fair", RUN_ID, "round", 0)
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key, f"{key}-report"]))
        )
    by_type = {a.type: str(a.data) for a in found}
    assert "acceptance_gpt" in by_type["table"] and "cost_gemini_usd" in by_type["table"]
    markdown = by_type["markdown"]
    assert markdown.count("](data:image/png;base64,") == 3
    assert summary["review_scores_plot"] in markdown and "fair report" in markdown


def test_console_summary_table_labels_the_call_counts() -> None:
    from rich.console import Console

    from flows.console import summary_table

    summary = {"round": 0, "teacher_calls": 5, "requests_sent": 3, "from_cache": 2, "failed_calls": 1}
    console = Console(width=120, record=True)
    console.print(summary_table([summary | {"train_accuracy": 1 / 3}], "t"))
    text = console.export_text()
    assert "sent to a provider" in text and "from cache" in text and "failed" in text
    assert "33.3%" in text and "not cached" not in text


def test_console_summary_table_shows_n_and_interval_of_each_accuracy() -> None:
    from rich.console import Console

    from flows.console import summary_table

    summary = {"round": 0, "test_accuracy_after": 20 / 32, "test_correct_after": 20, "test_n_after": 32}
    console = Console(width=120, record=True)
    console.print(summary_table([summary, {"round": 1, "test_accuracy_after": 0.5}], "t"))
    text = console.export_text()
    assert "62.5% (20/32)" in text and "95% CI 45.3%-77.1%" in text
    assert "50.0%" in text  # a summary saved before counts were kept: the rate alone


def test_publish_comparison_writes_the_page_and_both_artifacts(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from fair_core.report.compare import Variant
    from tasks.report import publish_comparison
    from tests.core.report.compare_runs import build

    build(tmp_path, "cmp-a", ["1100110000"])
    build(tmp_path, "cmp-b", ["1111110001"])
    out = tmp_path / "sweep.html"

    @flow(name="test-comparison")
    def comparison_flow() -> str:
        variants = [Variant("a", "cmp-a"), Variant("b", "cmp-b")]
        return publish_comparison(str(tmp_path), variants, str(out), key="test-cmp")

    markdown = comparison_flow()
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert markdown.count("](data:image/png;base64,") == 2 and "+30.0 pts" in markdown
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["test-cmp", "test-cmp-report"]))
        )
    by_type = {a.type: str(a.data) for a in found}
    assert "70.0% (7/10, 95% CI 39.7-89.2%)" in by_type["table"] and "McNemar" in by_type["markdown"]
