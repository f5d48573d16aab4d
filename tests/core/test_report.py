"""Round report pieces: review-score histogram per teacher, acceptance per teacher, the HTML run report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fair_core.report.html_page import render_run_report, write_run_report
from fair_core.report.plots import loss_plot, plot_review_scores, review_score_counts, write_review_plot
from fair_core.report.summary import cost_rows, round_summary
from fair_core.store import RunStore
from tests.core.report_store import EVIL, RUN_ID, TEACHERS, build_run

PNG = b"\x89PNG\r\n\x1a\n"


def test_review_score_counts_per_author_with_invalid_bin() -> None:
    reviews = [
        {"author": "gpt", "score": 5, "valid": True},
        {"author": "gpt", "score": 5, "valid": True},
        {"author": "gem", "score": 2, "valid": True},
        {"author": "gem", "score": None, "valid": False},
        {"author": "gem", "score": 0, "valid": False},
        {"author": "mix", "score": 7, "valid": True},  # out of range: invalid whatever the flag says
    ]
    counts = review_score_counts(reviews, ["gpt", "gem", "silent"])
    assert list(counts) == ["gpt", "gem", "silent", "mix"]  # the committee first, then other authors
    assert counts["gpt"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 2, "invalid": 0}
    assert counts["gem"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0, "invalid": 2}
    assert sum(counts["silent"].values()) == 0 and counts["mix"]["invalid"] == 1
    assert plot_review_scores(counts).startswith(PNG)
    assert plot_review_scores({}).startswith(PNG)  # no reviews: an empty chart, no crash


def test_round_plots_and_summary_from_the_store(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    r0, r1 = run.round(0), run.round(1)
    path = write_review_plot(r0, TEACHERS)
    assert path == r0.path / "review_scores.png" and path.read_bytes().startswith(PNG)
    assert write_review_plot(r1, TEACHERS) is None and not (r1.path / "review_scores.png").exists()
    png, source = loss_plot(r0)  # no loss.png: redrawn from train_result.json, nothing written
    assert png.startswith(PNG) and source.name == "train_result.json"
    assert not (r0.path / "student" / "model" / "loss.png").exists() and loss_plot(r1) is None

    summary = round_summary(r0, TEACHERS)
    assert summary["teacher_calls"] == 3 and summary["from_cache"] == 1 and summary["requests_sent"] == 2
    assert summary["cost_usd"] == 0.75 and summary["billed_usd"] == 1.25
    assert summary["cost_gemini_usd"] == 0.5 and summary["cost_review_usd"] == 0.5
    assert summary["rationales"] == 4 and summary["rationales_accepted"] == 2
    assert (summary["accepted_gpt"], summary["rationales_gpt"], summary["acceptance_gpt"]) == (2, 2, 1.0)
    assert (summary[f"accepted_{EVIL}"], summary[f"acceptance_{EVIL}"]) == (0, 0.0)
    assert round_summary(r1, ["gpt"])["acceptance_gpt"] is None  # nothing judged yet
    # every accuracy keeps its key and gains n, correct and its 95% Wilson interval
    assert summary["test_accuracy_after"] == 0.5 and (
        summary["test_correct_after"],
        summary["test_n_after"],
    ) == (1, 2)
    assert (summary["test_accuracy_after_low"], summary["test_accuracy_after_high"]) == pytest.approx(
        (0.0945, 0.9055), abs=1e-4
    )
    assert (summary["train_correct"], summary["train_questions"], summary["test_n_before"]) == (1, 3, 2)
    later = round_summary(r1, ["gpt"])  # not evaluated yet: unknown, not 0 of 0
    assert later["test_n_after"] is None and later["test_accuracy_after_low"] is None
    assert all(isinstance(v, str | int | float | None) for v in summary.values())  # flat, JSON-friendly
    costs = {(r["provider"], r["role"]): r for r in cost_rows(r0.rows("teacher_calls"))}
    assert costs[("gemini", "review")]["calls"] == 2 and costs[("gemini", "review")]["from_cache"] == 1
    assert costs[("openai", "rationale")]["cost_usd"] == 0.25


def test_html_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    build_run(tmp_path)
    page = render_run_report(tmp_path, RUN_ID)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert 'src="http' not in page and "<link" not in page and "<script" not in page
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(sources) == 3  # accuracy per round, round 0's review histogram and loss curve
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the teacher name, escaped
    assert "cafe1234" in page and RUN_ID in page
    for section in ("Rounds", "Student accuracy per round", "Rationales accepted per teacher"):
        assert f"<h2>{section}</h2>" in page
    assert "<h2>Cost per teacher</h2>" in page and "gemini" in page
    assert "$0.7500" in page  # round 0's cost
    # round 1 has no saved summary: it started from round 0's trained student
    before = "<tr><td>test accuracy before the round</td><td>0.0% (0/2, 95% CI 0.0-65.8%)</td>"
    assert before + "<td>50.0% (1/2, 95% CI 9.5-90.5%)</td></tr>" in page  # n and Wilson interval
    assert "test_n_before" not in page and "test_accuracy_after_low" not in page  # folded into the cell
    assert '<td class="text">6.1-79.2%</td>' in page  # the accuracy table's 95% CI column (1/3)
    # round 1 is still running: notes instead of plots
    round_1 = page.split('id="round-1"')[1]
    assert "has not finished" in round_1 and "No peer reviews" in round_1 and "No trained model" in round_1


def test_html_report_errors_and_empty_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "runs" / "nope"))):
        render_run_report(tmp_path, "nope")
    RunStore(tmp_path, "empty").root.mkdir(parents=True)
    page = render_run_report(tmp_path, "empty")
    assert "No rounds yet" in page and "No student answers evaluated yet" in page
    out = write_run_report(tmp_path, "empty", tmp_path / "x" / "r.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
