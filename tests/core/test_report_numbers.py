"""The report's numbers: one accuracy (None without rows, unrounded), call counts by mode, display formats."""

from __future__ import annotations

import base64
from pathlib import Path

from fair_core.evaluation import accuracy, accuracy_rows
from fair_core.report.markdown import run_report, summary_markdown
from fair_core.report.plots import data_uri
from fair_core.report.summary import call_counts, cost_rows
from fair_core.store import RunStore
from tests.core.report_store import build_run


def test_accuracy_is_none_without_rows_and_never_rounded() -> None:
    assert accuracy([]) is None
    assert accuracy([{"correct": True}, {"correct": False}, {"correct": False}]) == 1 / 3
    assert accuracy([{"correct": 1}]) == 1.0


def test_stored_accuracy_is_unrounded_and_displays_format_it(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    train = next(r for r in accuracy_rows(run.round(0)) if r["table"] == "student_outputs")
    assert train["accuracy"] == 1 / 3 and (train["examples"], train["correct"]) == (3, 1)
    assert "| 0.333 |" in summary_markdown([{"train_accuracy": 1 / 3}])


def test_rows_if_present_is_empty_for_missing_tables(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    assert run.round(1).rows_if_present("evaluation") == []
    assert RunStore(tmp_path, "nothing").round(0).rows_if_present("teacher_calls") == []
    assert len(run.round(0).rows_if_present("teacher_calls")) == 3  # two parts concatenated


def test_call_counts_come_from_mode_and_status() -> None:
    def call(mode: str | None, status: str = "ok", cached: bool = False) -> dict[str, object]:
        return {"mode": mode, "status": status, "cached": cached, "provider": "p", "role": "review"}

    calls = [
        call("online"),
        call("batch"),
        call("cache"),  # a repeat inside the run: not cached by the reply cache, still not sent
        call("cache", cached=True),
        call("online", "error"),
        call("online", "fatal"),
        call(None, cached=True),  # a row written before modes were kept
    ]
    counts = call_counts(calls)
    assert counts == {"teacher_calls": 7, "requests_sent": 4, "from_cache": 3, "failed_calls": 2}
    [row] = cost_rows([{**c, "prompt_tokens": 1, "completion_tokens": None} for c in calls])
    assert (row["calls"], row["requests_sent"], row["from_cache"], row["failed_calls"]) == (7, 4, 3, 2)
    assert row["prompt_tokens"] == 7 and row["completion_tokens"] == 0


def test_run_report_embeds_the_accuracy_plot_as_a_data_uri(tmp_path: Path) -> None:
    png = b"\x89PNG-plot"
    assert data_uri(png) == "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    summaries = [{"round": 0, "mistakes": 2, "accuracy_plot": "/r/accuracy.png"}]
    text = run_report("run-x", summaries, (png, Path("/r/accuracy.png")))
    assert text.startswith("# FAIR run run-x") and "accuracy_plot" not in text.split("![")[0]
    assert f"]({data_uri(png)})" in text and "Plot file: `/r/accuracy.png`" in text
    assert "](data:" not in run_report("run-x", summaries)  # no plot file yet


def test_every_shown_accuracy_has_its_n_and_interval(tmp_path: Path) -> None:
    from fair_core.report.markdown import accuracy_markdown, round_report
    from fair_core.report.plots import error_bars
    from fair_core.report.summary import display_summary, round_summary

    run = build_run(tmp_path)
    summary = round_summary(run.round(0), ["gpt"])
    shown = display_summary(summary)
    assert shown["test_accuracy_after"] == "50.0% (1/2, 95% CI 9.5-90.5%)"
    assert shown["train_accuracy"] == "33.3% (1/3, 95% CI 6.1-79.2%)" and shown["train_questions"] == 3
    assert not {"test_n_after", "test_correct_after", "train_accuracy_low"} & set(shown)
    assert display_summary({"test_accuracy_after": 0.5})["test_accuracy_after"] == 0.5  # an old summary
    report = round_report("r", 0, summary, {})
    assert "| 50.0% (1/2, 95% CI 9.5-90.5%) |" in report and "test_n_after" not in report
    rows = accuracy_rows(run.round(0))
    test = next(r for r in rows if r["table"] == "evaluation")
    assert (test["examples"], test["correct"], test["interval"]) == (2, 1, "wilson")
    assert "| 2 | 1 | 50.0% | 9.5-90.5% |" in accuracy_markdown(rows)
    seeds = {**test, "interval": "t over seeds", "accuracy_low": 0.41, "accuracy_high": 0.452}
    assert accuracy_markdown([seeds]).endswith("| t 41.0-45.2% |\n")
    assert "| - |" in accuracy_markdown([{**test, "accuracy_low": None}])
    assert error_bars([0.5, 0.2], [0.1, None], [0.9, None]) == [[0.4, 0.0], [0.4, 0.0]]
