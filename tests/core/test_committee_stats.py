"""The committee's own statistics: Krippendorff's alpha against the textbook and a direct computation,
per-teacher and per-reviewer numbers on a hand-built stored round, the paper code's SVAMP round 0, and the
report section renderers."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path

import pytest

from fair_core.agreement import agreement, krippendorff_alpha
from fair_core.committee_stats import committee_stats
from fair_core.report.committee import committee_html, committee_markdown, reviewer_rows, teacher_rows
from fair_core.review import select_rationales
from fair_core.store import RunStore
from fair_core.store.reference import import_reference

NAN = None
#: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C (also Wikipedia): 4 coders,
#: 12 units, values 1-5, missing values. Published: nominal 0.743, ordinal 0.815, interval 0.849.
TEXTBOOK = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_alpha_matches_krippendorffs_published_example(level: str, published: float) -> None:
    assert krippendorff_alpha(TEXTBOOK, level=level) == pytest.approx(published, abs=5e-4)


def _direct_ordinal_alpha(matrix: list[list[float | None]]) -> float:
    """Alpha from the coincidence matrix, written out (Krippendorff 2011, ordinal metric)."""
    values = sorted({v for row in matrix for v in row if v is not None})
    o = {(c, k): 0.0 for c in values for k in values}
    for unit in zip(*matrix, strict=True):
        present = [v for v in unit if v is not None]
        m = len(present)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            o[(present[i], present[j])] += 1 / (m - 1)
    n_c = {c: sum(o[(c, k)] for k in values) for c in values}
    n = sum(n_c.values())

    def delta(c: float, k: float) -> float:
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in values if lo <= g <= hi) - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(o[(c, k)] * delta(c, k) for c in values for k in values)
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


def test_alpha_matches_a_direct_computation() -> None:
    assert krippendorff_alpha(TEXTBOOK) == pytest.approx(_direct_ordinal_alpha(TEXTBOOK))
    reviews = [
        [5, 4, 1, None, 3, 5, 2, 4],
        [4, 4, 2, 5, None, 5, 1, 3],
        [None, 5, 1, 5, 3, 4, None, 2],
    ]
    assert krippendorff_alpha(reviews) == pytest.approx(_direct_ordinal_alpha(reviews))


def test_alpha_is_none_when_undefined() -> None:
    assert krippendorff_alpha([[4, 4], [4, 4]]) is None  # one value only: no disagreement expected
    assert krippendorff_alpha([[4, None], [None, 2]]) is None  # no unit scored twice
    assert krippendorff_alpha([]) is None
    assert krippendorff_alpha([[5, 1], [5, 1]]) == 1.0


# --- a hand-built round ---------------------------------------------------------------------------

#: (example, author) -> gold_ok, and each reviewer's score (None: unparseable).
GOLD = {("q1", "a"): True, ("q1", "b"): False, ("q1", "c"): True, ("q2", "a"): True, ("q2", "b"): True}
SCORES = {
    ("q1", "a"): {"b": 5, "c": 4},
    ("q1", "b"): {"a": 2, "c": 5},  # c accepts a wrong rationale
    ("q1", "c"): {"a": 1, "b": 2},  # a right rationale rejected
    ("q2", "a"): {"b": 4, "c": None},
    ("q2", "b"): {"a": 5, "c": 4},
}
THRESHOLD = 3.0


def _round(tmp_path: Path):
    store = RunStore(tmp_path, "hand").round(0)
    rationales = [
        {
            "example_id": e,
            "teacher": t,
            "status": "ok",
            "text": f"{t} on {e}",
            "predicted": "1",
            "gold_ok": ok,
        }
        for (e, t), ok in GOLD.items()
    ]
    rationales.append(
        {
            "example_id": "q2",
            "teacher": "c",
            "status": "error",
            "text": None,
            "predicted": None,
            "gold_ok": None,
        }
    )
    reviews = [
        {
            "example_id": e,
            "author": t,
            "reviewer": r,
            "status": "ok",
            "score": s,
            "valid": s is not None,
            "text": "",
        }
        for (e, t), by in SCORES.items()
        for r, s in by.items()
    ]
    samples = [
        {"sample_id": f"s{i}", "task": task, "example_id": e, "teacher": t, "prompt": "p", "completion": "c"}
        for i, (task, e, t) in enumerate(
            [
                ("rationale", "q1", "a"),
                ("rationale", "q2", "a"),
                ("feedback", "q1", "b"),
                ("feedback", "q2", "c"),
            ]
        )
    ]
    calls = [
        {
            "teacher": t,
            "role": role,
            "example_id": "q1",
            "status": "ok",
            "cost_usd": cost,
            "billed_usd": billed,
        }
        for t, role, cost, billed in [
            ("a", "rationale", 0.01, 0.01),
            ("a", "review", 0.0, 0.02),  # a cached reply: nothing paid now
            ("a", "review", None, None),  # no price known
            ("b", "feedback", 0.5, 0.5),
        ]
    ]
    store.write("rationales", rationales)
    store.write("reviews", reviews)
    store.write("acceptance", select_rationales(rationales, reviews, threshold=THRESHOLD))
    store.write("training_samples", samples)
    store.write("teacher_calls", calls, part="all")
    return store, reviews


def test_committee_stats_on_a_hand_built_round(tmp_path: Path) -> None:
    store, reviews = _round(tmp_path)
    stats = committee_stats(store, THRESHOLD)
    assert stats.acceptance_source == "acceptance" and stats.reviews == len(reviews) == 10
    teachers = {t.teacher: t for t in stats.teachers}
    # a: q1 mean 4.5, q2 mean 4 -> both accepted, both right; b: q1 3.5 (accepted, wrong), q2 4.5 (right)
    # c: q1 mean 1.5 rejected (right), q2 no text
    a, b, c = teachers["a"], teachers["b"], teachers["c"]
    assert (a.accepted.k, a.accepted.n, a.accepted_gold_ok.k, a.accepted_gold_ok.n) == (2, 2, 2, 2)
    assert (b.accepted.k, b.accepted.n, b.accepted_gold_ok.k, b.accepted_gold_ok.n) == (2, 2, 1, 2)
    assert (c.rationales, c.written, c.accepted.k, c.accepted.n, c.gold_ok.k, c.gold_ok.n) == (
        2,
        1,
        0,
        2,
        1,
        1,
    )
    assert a.accepted.low is not None and a.accepted.low < 1.0 == a.accepted.high  # Wilson, n = 2
    assert (a.rationale_samples, a.feedback_samples, a.training_share) == (2, 0, 0.5)
    assert (b.feedback_samples, c.feedback_samples, c.training_share) == (1, 1, 0.25)
    assert a.cost_usd == {"feedback": 0.0, "rationale": 0.01, "review": 0.0, "total": 0.01}
    assert a.billed_usd["review"] == 0.02 and a.billed_usd["total"] == pytest.approx(0.03)
    assert b.cost_usd["total"] == 0.5 and c.cost_usd["total"] == 0.0
    assert (stats.accepted_wrong, stats.rejected_right) == (1, 1)

    reviewers = {r.reviewer: r for r in stats.reviewers}
    # counts of 1..5 and invalid sum to each reviewer's reviews
    for name, r in reviewers.items():
        assert sum(r.score_counts.values()) == r.reviews == sum(name in by for by in SCORES.values())
    assert reviewers["c"].score_counts == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1, "invalid": 1}
    assert reviewers["c"].mean_score == pytest.approx(13 / 3)
    # c's verdicts: q1/a 4 (acc, right), q1/b 5 (acc, wrong), q2/b 4 (acc, right); q2/a unparseable
    assert (reviewers["c"].accepted_right, reviewers["c"].accepted_wrong) == (2, 1)
    assert (reviewers["c"].rejected_right, reviewers["c"].rejected_wrong) == (0, 0)
    # a's verdicts: q1/b 2 (rej, wrong), q1/c 1 (rej, right), q2/b 5 (acc, right)
    a_r = reviewers["a"]
    assert (a_r.accepted_right, a_r.accepted_wrong, a_r.rejected_right, a_r.rejected_wrong) == (1, 0, 1, 1)
    assert (a_r.gold_agreement.k, a_r.gold_agreement.n) == (2, 3)
    # leniency of c: (4-5) + (5-2) + (4-5) over 3 rationales scored with another reviewer
    assert reviewers["c"].leniency == pytest.approx(1 / 3) and reviewers["c"].leniency_n == 3
    assert reviewers["a"].leniency == pytest.approx(((2 - 5) + (1 - 2) + (5 - 4)) / 3)

    # agreement: the same alpha as the library on the matrix built here, pairs over common rationales
    units = sorted(SCORES)
    matrix = [[SCORES[u].get(r) for u in units] for r in ("a", "b", "c")]
    assert stats.agreement.alpha == pytest.approx(krippendorff_alpha(matrix))
    assert stats.agreement.units == 4  # q2/a has one valid score
    pairs = {(p.a, p.b): p for p in stats.pairs}
    assert pairs[("a", "c")].units == 2 and pairs[("a", "b")].units == 1 and pairs[("b", "c")].units == 1
    assert pairs[("a", "c")].alpha == pytest.approx(krippendorff_alpha([[2, 5], [5, 4]]))


def test_committee_stats_without_optional_tables(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "bare").round(0)
    store.write(
        "rationales", [{"example_id": "q", "teacher": "a", "status": "ok", "text": "t", "gold_ok": True}]
    )
    store.write("reviews", [{"example_id": "q", "author": "a", "reviewer": "b", "score": 4, "valid": True}])
    stats = committee_stats(store)
    assert stats.acceptance_source == "recomputed" and stats.threshold == 3.0
    assert stats.teachers[0].accepted.k == 1 and stats.teachers[0].training_share is None
    assert stats.agreement.alpha is None  # one reviewer: nothing to agree on
    assert "recomputed" in committee_markdown(stats)


def test_the_round_threshold_comes_from_its_manifest(tmp_path: Path) -> None:
    store, _ = _round(tmp_path)
    store.record_stage(
        "select-rationales", inputs={}, outputs=[], extra={"settings": {"review_threshold": 4.0}}
    )
    stats = committee_stats(store)
    assert stats.threshold == 4.0
    c = {r.reviewer: r for r in stats.reviewers}["c"]
    assert (c.accepted_right, c.accepted_wrong, c.rejected_right) == (0, 1, 2)  # only the 5 is above 4


def test_renderers_show_every_teacher_and_escape_text(tmp_path: Path) -> None:
    store, _ = _round(tmp_path)
    stats = committee_stats(store, THRESHOLD)
    markdown = committee_markdown(stats)
    for name in ("a", "b", "c"):
        assert f"| {name} |" in markdown
    assert "Krippendorff's alpha" in markdown and "accepted but wrong" in markdown
    assert [r["teacher"] for r in teacher_rows(stats)] == ["a", "b", "c"]
    assert reviewer_rows(stats)[2]["score 5"] == "1"
    renamed = type(stats)(**{**vars(stats), "run_id": "x"})
    renamed.teachers[0] = type(stats.teachers[0])(**{**vars(stats.teachers[0]), "teacher": "<b>&"})
    fragment = committee_html(renamed)
    assert "&lt;b&gt;&amp;" in fragment and "<b>&" not in fragment
    assert fragment.startswith('<section class="committee">') and fragment.count("<table>") == 3


# --- the paper code's SVAMP round 0 ------------------------------------------------------------------


def test_paper_svamp_round0_committee_stats(shared_datasets: Path, tmp_path: Path) -> None:
    store = RunStore(tmp_path, "reference").round(0)
    import_reference(shared_datasets / "reference_round0", store)
    stats = committee_stats(store, 3.0)
    reviews = store.rows("reviews")
    assert stats.reviews == len(reviews) == 387 * 3 * 2
    assert sum(sum(r.score_counts.values()) for r in stats.reviewers) == len(reviews)
    assert {t.teacher for t in stats.teachers} == {"gpt", "gemini", "mixtral"}
    # the paper code's accepted counts (tests/core/test_review.py), from the recomputed decisions
    assert {t.teacher: t.accepted.k for t in stats.teachers} == {"mixtral": 319, "gpt": 286, "gemini": 221}
    assert stats.acceptance_source == "recomputed"
    alphas = [stats.agreement.alpha, *(p.alpha for p in stats.pairs)]
    assert all(a is not None and -1 <= a <= 1 for a in alphas)
    assert len(stats.pairs) == 3 and all(p.units > 380 for p in stats.pairs)
    for r in stats.reviewers:
        known = r.accepted_right + r.accepted_wrong + r.rejected_right + r.rejected_wrong
        assert known == r.gold_agreement.n <= r.reviews
        assert r.leniency is not None and math.isfinite(r.leniency)
    assert sum(r.accepted_wrong for r in stats.reviewers) > 0  # right answer != sound rationale, both ways
    decided = Counter(
        (a["accepted"], a["gold_ok"]) for a in select_rationales(store.rows("rationales"), reviews)
    )
    assert (stats.accepted_wrong, stats.rejected_right) == (decided[(True, False)], decided[(False, True)])
    print()
    print(committee_markdown(stats))
    print("pairwise alpha:", {(p.a, p.b): round(p.alpha or 0, 3) for p in stats.pairs})
    print("alpha without:", {k: round(v or 0, 3) for k, v in stats.agreement.without.items()})
    assert agreement({}).alpha is None
