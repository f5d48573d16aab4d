"""`compare_runs` and its renderings on runs written to disk, checked against numbers computed here."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import pytest
from scipy import stats as sp

from fair_core.report.compare import CompareError, Variant, compare_runs, read_variant
from fair_core.report.compare_render import (
    comparison_html,
    comparison_markdown,
    teacher_rows,
    variant_rows,
    write_comparison,
)
from tests.core.report.compare_runs import build

FAIR = ["1100110000", "1110111000"]
NO_REVIEW = ["0101110001", "1111111110"]


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's score interval written out (an independent check of the library call)."""
    z, p = sp.norm.ppf(0.975), k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def transitions(reference: str, other: str) -> tuple[int, int, int, int]:
    """(fixed, broken, both right, both wrong) counted question by question."""
    pairs = list(zip(reference, other, strict=True))
    return (
        pairs.count(("0", "1")),
        pairs.count(("1", "0")),
        pairs.count(("1", "1")),
        pairs.count(("0", "0")),
    )


def two_runs(tmp_path: Path) -> None:
    build(
        tmp_path,
        "run-fair",
        FAIR,
        calls=[
            [("gpt", "online", 0.10, 0.10), ("gem", "online", 0.20, 0.20), ("gem", "cache", 0.0, 0.20)],
            [("gpt", "cache", 0.0, 0.10), ("gem", "online", 0.05, 0.05)],
        ],
        samples=[(3, 2), (1, 1)],
        baseline="1000000000",
    )
    build(tmp_path, "run-nr", NO_REVIEW, calls=[[("gpt", "cache", 0.0, 0.10)], []], samples=[(5, 2), (2, 0)])


def test_two_variants_accuracy_paired_difference_cost_and_calls(tmp_path: Path) -> None:
    two_runs(tmp_path)
    c = compare_runs(tmp_path, [Variant("fair", "run-fair"), Variant("no review", "run-nr")])
    assert c.reference == "fair" and [r.variant.run_id for r in c.runs] == ["run-fair", "run-nr"]
    fair, nr = c.runs
    assert [r.accuracy.k for r in fair.rounds] == [4, 6] and fair.last.accuracy.n == 10
    assert (nr.last.accuracy.low, nr.last.accuracy.high) == pytest.approx(wilson(9, 10))
    assert fair.baseline is not None and fair.baseline.k == 1 and nr.baseline is None
    # cost: paid (cost_usd) and billed, per teacher; calls sent vs from cache; training samples
    assert fair.total("cost_usd") == pytest.approx(0.35) and fair.total("billed_usd") == pytest.approx(0.65)
    assert fair.rounds[0].billed_by_teacher == {"gem": pytest.approx(0.40), "gpt": pytest.approx(0.10)}
    assert fair.rounds[0].cost_by_teacher == {"gem": pytest.approx(0.20), "gpt": pytest.approx(0.10)}
    assert (fair.total("requests_sent"), fair.total("from_cache")) == (3, 2)
    assert (nr.total("requests_sent"), nr.total("from_cache")) == (0, 1)
    assert fair.total("training_samples") == 7 and nr.rounds[0].rationale_samples == 5

    by_round = {p.round: p for p in c.paired}
    assert set(by_round) == {0, 1} and by_round[1].last and not by_round[0].last
    for k in (0, 1):
        d = by_round[k].paired
        fixed, broken, right, wrong = transitions(FAIR[k], NO_REVIEW[k])
        assert (d.fixed, d.broken, d.both_right, d.both_wrong, d.n) == (fixed, broken, right, wrong, 10)
        assert d.difference == pytest.approx((NO_REVIEW[k].count("1") - FAIR[k].count("1")) / 10)
        assert d.p_value == pytest.approx(sp.binomtest(min(fixed, broken), fixed + broken, 0.5).pvalue)
        assert d.low <= d.difference <= d.high
    assert c.last_paired("run-nr").paired.fixed == 3 and c.last_paired("run-fair") is None

    row = {r["run"]: r for r in variant_rows(c)}["run-nr"]
    assert row["test accuracy"] == "90.0% (9/10, 95% CI 59.6-98.2%)"
    assert row["vs reference"].startswith("+30.0 pts (95% CI ") and row["fixed / broken"] == "3 / 0"
    assert row["McNemar p"] == "0.25" and row["sent"] == "0" and row["from cache"] == "1"
    assert {r["run"]: r for r in variant_rows(c)}["run-fair"]["vs reference"] == "reference"
    # another reference: the differences change sign
    flipped = compare_runs(tmp_path, [Variant("fair", "run-fair"), Variant("nr", "run-nr")], reference="nr")
    assert flipped.last_paired("run-fair").paired.difference == pytest.approx(-0.3)


def test_seeds_and_leave_one_teacher_out(tmp_path: Path) -> None:
    patterns = {
        ("fair", 1): "1111100000",
        ("fair", 2): "1111110000",
        ("no-gem", 1): "1110100000",
        ("no-gem", 2): "1111000000",
    }
    gem_billed = {1: 0.40, 2: 0.30}
    variants = []
    for (label, seed), pattern in patterns.items():
        run_id = f"{label}-s{seed}"
        calls = [[("gem", "online", gem_billed[seed], gem_billed[seed]), ("gpt", "online", 1.0, 1.0)]]
        build(tmp_path, run_id, [pattern], calls=calls if label == "fair" else None)
        meta = {"without_teacher": "gem"} if label == "no-gem" else {}
        variants.append(Variant(label, run_id, seed, meta))
    c = compare_runs(tmp_path, variants)
    labels = {lab.label: lab for lab in c.labels}
    fair = labels["fair"].accuracy
    assert (fair.n, fair.mean, fair.std) == (
        2,
        pytest.approx(0.55),
        pytest.approx(statistics.stdev([0.5, 0.6])),
    )
    low, high = sp.t.interval(0.95, 1, loc=0.55, scale=statistics.stdev([0.5, 0.6]) / math.sqrt(2))
    assert (fair.low, fair.high) == pytest.approx((low, high))
    # each seed is paired with the reference run of the same seed
    pairs = {p.run_id: p.reference_run for p in c.paired}
    assert pairs == {"no-gem-s1": "fair-s1", "no-gem-s2": "fair-s2"}
    diffs = [-0.1, -0.2]  # seed 1 breaks q3; seed 2 breaks q4 and q5
    assert labels["no-gem"].difference.mean == pytest.approx(statistics.fmean(diffs))
    assert labels["fair"].difference is None
    [value] = c.leave_one_out
    assert (value.label, value.teacher) == ("no-gem", "gem")
    assert value.accuracy_lost.mean == pytest.approx(0.15)
    assert value.cost_usd == pytest.approx((0.40 + 0.30) / 2)  # billed to gem in the reference runs
    assert value.lost_per_dollar == pytest.approx(0.15 / 0.35)

    markdown = comparison_markdown(c)
    assert "## Over seeds" in markdown and "55.0% ± 7.1 (sd, 2 seeds" in markdown
    assert "## Without a teacher" in markdown and "| gem |" in markdown and "42.9 pts/$" in markdown
    assert "-15.0 pts ± 7.1 (sd, 2 seeds" in markdown and "McNemar" in markdown


def test_html_page_is_self_contained_with_both_plots(tmp_path: Path) -> None:
    two_runs(tmp_path)
    variants = [Variant("fair", "run-fair"), Variant("<b>nr</b>", "run-nr")]
    page = comparison_html(compare_runs(tmp_path, variants))
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<script" not in page
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(sources) == 2 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "&lt;b&gt;nr&lt;/b&gt;" in page and "<b>nr</b>" not in page
    for text in ("60.0% (6/10, 95% CI", "Per round", "McNemar p", "training samples", "gem $0.4000"):
        assert text in page
    out = write_comparison(tmp_path, variants, tmp_path / "out" / "c.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_unfinished_rounds_are_left_out_and_errors_name_the_run(tmp_path: Path) -> None:
    build(tmp_path, "half", ["1100000000", "1111000000"], finished=1)
    build(tmp_path, "other", ["1000000000", "1111111111"])
    c = compare_runs(tmp_path, [Variant("half", "half"), Variant("other", "other")])
    assert [r.round for r in c.runs[0].rounds] == [0] and [p.round for p in c.paired] == [0]
    assert c.notes == ["run half: round(s) 1 not finished, left out"]
    build(tmp_path, "started", ["1000000000"], finished=0)
    with pytest.raises(CompareError, match=r"run 'started' has no finished round under .*started"):
        compare_runs(tmp_path, [Variant("a", "half"), Variant("b", "started")])
    with pytest.raises(CompareError, match=r"run 'nope' not found: .*runs under .*half, other, started"):
        compare_runs(tmp_path, [Variant("a", "nope")])
    with pytest.raises(CompareError, match="reference 'x' is none of the labels: a, b"):
        compare_runs(tmp_path, [Variant("a", "half"), Variant("b", "other")], reference="x")
    with pytest.raises(CompareError, match="run 'half' is given twice"):
        compare_runs(tmp_path, [Variant("a", "half"), Variant("b", "half")])
    with pytest.raises(CompareError, match="both label 'a' with seed 1"):
        compare_runs(tmp_path, [Variant("a", "half", 1), Variant("a", "other", 1)])


def test_read_variant_from_the_sweep_record(tmp_path: Path) -> None:
    sweep = {"label": "no feedback", "seed": 3, "meta": {"training.use_feedback": False}}
    build(tmp_path, "swept", ["1000000000"], sweep=sweep)
    build(tmp_path, "plain", ["1000000000"])
    assert read_variant(tmp_path, "swept") == Variant("no feedback", "swept", 3, sweep["meta"])
    assert read_variant(tmp_path, "plain") == Variant("plain", "plain")
    (tmp_path / "runs" / "plain" / "sweep.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CompareError, match=r"run 'plain': .*sweep.json is not a valid sweep record"):
        read_variant(tmp_path, "plain")


def test_leave_one_out_with_one_seed_shows_the_paired_interval(tmp_path: Path) -> None:
    build(tmp_path, "all", ["1111110000"], calls=[[("mix", "online", 0.5, 0.5), ("gpt", "online", 1.0, 1.0)]])
    build(tmp_path, "no-mix", ["1111000000"])
    variants = [Variant("all", "all"), Variant("no mix", "no-mix", meta={"without_teacher": "mix"})]
    c = compare_runs(tmp_path, variants)
    [value] = c.leave_one_out
    assert value.accuracy_lost.mean == pytest.approx(0.2) and value.cost_usd == pytest.approx(0.5)
    assert value.lost_per_dollar == pytest.approx(0.4)  # 20 points for $0.50
    [row] = teacher_rows(c)
    d = c.last_paired("no-mix").paired
    assert row["accuracy lost"] == (
        f"+20.0 pts (95% CI {-100 * d.high:+.1f} to {-100 * d.low:+.1f}), McNemar p=0.5"  # 2 broken: 2/4
    )
    assert row["teacher billed in reference"] == "$0.5000" and row["accuracy per dollar"] == "40 pts/$"
