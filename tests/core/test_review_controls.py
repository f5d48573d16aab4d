"""Reviewer controls: score aggregation rules, reliability weights, reviewers per rationale, authorship in
the review prompt, their validation, identity and what the round manifest records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from fair_core.config import ConfigError, ReviewConfig, TeacherConfig, load_config, parse_config
from fair_core.identity import result_view
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.refs import RoundRef
from fair_core.review import judge, plan_reviews, reviewer_reliability, select_rationales
from fair_core.review_plan import assigned_reviewers, review_plan
from fair_core.store import RunStore
from tasks.review import select

TEACHERS = [{"name": n, "model": f"{n}-model"} for n in ("a", "b", "c", "d")]
COMMITTEE = [TeacherConfig(**t) for t in TEACHERS]
EXAMPLES = {f"q{i}": Example(f"q{i}", "svamp", f"What is {i} + {i}?", str(2 * i)) for i in range(12)}
RATIONALES = [
    {"example_id": e, "teacher": t.name, "text": f"{t.name} says {e}", "status": "ok", "gold_ok": True}
    for e in EXAMPLES
    for t in COMMITTEE
]


# --- aggregation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aggregation", "scores", "accepted", "value"),
    [
        # mean (the paper): (5 + 2 + 3) / 3 = 3.33 > 3
        ("mean", [5, 2, 3], True, 10 / 3),
        # median of [2, 3, 5] is 3, not above 3
        ("median", [5, 2, 3], False, 3.0),
        ("median", [5, 4, 1], True, 4.0),
        # min: every score must be above 3
        ("min", [5, 4, 4], True, 4.0),
        ("min", [5, 5, 3], False, 3.0),
        # majority: 2 of 3 above 3 -> accepted though the mean is 3.0; 1 of 2 is not more than half
        ("majority", [4, 4, 1], True, 2 / 3),
        ("majority", [5, 1], False, 0.5),
        # invalid scores (0, 83, None) are dropped before every rule
        ("mean", [5, 0, 83, None], True, 5.0),
        ("majority", [4, 0, None], True, 1.0),
    ],
)
def test_each_aggregation_rule_on_a_hand_example(
    aggregation: str, scores: list, accepted: bool, value: float
) -> None:
    verdict = judge(scores, threshold=3.0, aggregation=aggregation)
    assert verdict.accepted is accepted
    assert verdict.aggregate == pytest.approx(value)
    assert verdict.mean_score == pytest.approx(sum(s for s in scores if s and 1 <= s <= 5) / verdict.n_valid)


def test_weighted_mean_uses_the_weights_of_valid_scores() -> None:
    # (5 * 0.9 + 1 * 0.1) / 1.0 = 4.6 > 3, while the plain mean is 3
    verdict = judge([5, 1, 83], weights=[0.9, 0.1, 5.0], aggregation="weighted")
    assert verdict.accepted and verdict.aggregate == pytest.approx(4.6)
    assert verdict.mean_score == 3.0 and verdict.reason == "weighted mean 4.60 > 3"
    assert not judge([5, 1], weights=[0.1, 0.9], aggregation="weighted").accepted  # 1.4
    assert judge([5, 1], aggregation="weighted").aggregate == 3.0  # no weights: the mean


def test_mean_keeps_the_paper_reason_text_and_unknown_rules_fail() -> None:
    assert judge([4, 3]).reason == "mean 3.50 > 3"
    assert judge([3, 3]).reason == "mean 3.00 <= 3"
    with pytest.raises(ValueError, match=r"review\.aggregation 'mode'"):
        select_rationales(RATIONALES[:1], [], aggregation="mode")


def test_reviewer_reliability_is_agreement_with_gold_smoothed() -> None:
    rationales = [
        {"example_id": str(i), "teacher": "a", "gold_ok": i < 10, "text": "x"} for i in range(20)
    ] + [{"example_id": "u", "teacher": "a", "gold_ok": None, "text": "x"}]
    # b: accepts exactly the right ones (20 of 20 agree); c: accepts everything (10 of 20); d: no valid score
    reviews = [
        {"example_id": str(i), "author": "a", "reviewer": "b", "score": 5 if i < 10 else 1} for i in range(20)
    ]
    reviews += [{"example_id": str(i), "author": "a", "reviewer": "c", "score": 4} for i in range(20)]
    reviews += [{"example_id": "u", "author": "a", "reviewer": "c", "score": 5}]  # gold unknown: not counted
    reviews += [{"example_id": "0", "author": "a", "reviewer": "d", "score": None}]
    rel = reviewer_reliability(rationales, reviews, threshold=3.0)
    assert (rel["b"].agree, rel["b"].n) == (20, 20) and rel["b"].weight == pytest.approx(25 / 30)
    assert (rel["c"].agree, rel["c"].n) == (10, 20) and rel["c"].weight == pytest.approx(0.5)
    assert (rel["d"].agree, rel["d"].n) == (0, 0) and rel["d"].weight == 0.5


def test_weighted_selection_follows_the_reliable_reviewer() -> None:
    # b is right on 20 gold-checked rationales, c wrong on all: on a new rationale they disagree 5 vs 1
    rationales = [
        {"example_id": str(i), "teacher": "a", "gold_ok": i % 2 == 0, "text": "x"} for i in range(20)
    ]
    reviews = []
    for i in range(20):
        right = 5 if i % 2 == 0 else 1
        reviews += [
            {"example_id": str(i), "author": "a", "reviewer": "b", "score": right},
            {"example_id": str(i), "author": "a", "reviewer": "c", "score": 6 - right},
        ]
    rationales.append({"example_id": "new", "teacher": "a", "gold_ok": None, "text": "x"})
    reviews += [
        {"example_id": "new", "author": "a", "reviewer": "b", "score": 4},
        {"example_id": "new", "author": "a", "reviewer": "c", "score": 1},
    ]
    rows = {r["example_id"]: r for r in select_rationales(rationales, reviews, aggregation="weighted")}
    assert rows["new"]["accepted"] and rows["new"]["mean_score"] == 2.5  # mean alone would reject it
    assert not {r["example_id"]: r for r in select_rationales(rationales, reviews)}["new"]["accepted"]


def test_select_rationales_defaults_are_the_paper() -> None:
    reviews = [
        {"example_id": "q0", "author": "a", "reviewer": "b", "score": 4},
        {"example_id": "q0", "author": "a", "reviewer": "c", "score": 3},
    ]
    default = select_rationales(RATIONALES[:1], reviews)
    assert default == select_rationales(RATIONALES[:1], reviews, aggregation="mean", threshold=3.0)
    assert default[0]["accepted"] and default[0]["reason"] == "mean 3.50 > 3"


# --- reviewers per rationale ------------------------------------------------------------------------


def test_assigned_reviewers_are_deterministic_and_never_the_author() -> None:
    names = [t.name for t in COMMITTEE]
    chosen = {}
    for e in EXAMPLES:
        for author in names:
            picked = assigned_reviewers(e, author, names, 2)
            assert len(picked) == 2 and author not in picked and len(set(picked)) == 2
            assert picked == assigned_reviewers(e, author, list(reversed(names)), 2)  # order does not matter
            chosen[(e, author)] = picked
    # every reviewer is used, not always the same two
    assert set(Counter(r for p in chosen.values() for r in p)) == set(names)
    assert assigned_reviewers("q0", "a", names, None) == ["b", "c", "d"]
    assert assigned_reviewers("q0", "a", names, 3) == ["b", "c", "d"]
    # leaving a teacher out changes only the choices it had won (rendezvous hashing)
    for (e, author), picked in chosen.items():
        if author != "d" and "d" not in picked:
            assert set(assigned_reviewers(e, author, names[:3], 2)) == set(picked)


def test_plan_reviews_with_k_reviewers_per_rationale() -> None:
    config = parse_config({"teachers": TEACHERS, "review": {"reviewers_per_rationale": 1}})
    plan = review_plan(config.review, config.teachers)
    prompts = PromptSet()
    planned = [p for t in COMMITTEE for p in plan_reviews(t, EXAMPLES, RATIONALES, prompts, plan)]
    per_rationale = Counter((p.example_id, p.target) for p in planned)
    assert set(per_rationale.values()) == {1} and len(per_rationale) == len(RATIONALES)
    assert all(p.request.teacher != p.target for p in planned)
    again = [p for t in COMMITTEE for p in plan_reviews(t, EXAMPLES, RATIONALES, prompts, plan)]
    assert [p.request.key() for p in again] == [p.request.key() for p in planned]
    # the default plan: every other teacher, the same requests as without a plan
    default = parse_config({"teachers": TEACHERS})
    assert review_plan(default.review, default.teachers) is None
    everyone = [p for t in COMMITTEE for p in plan_reviews(t, EXAMPLES, RATIONALES, prompts)]
    assert len(everyone) == 3 * len(RATIONALES)


@pytest.mark.parametrize(
    ("review", "message"),
    [
        ({"reviewers_per_rationale": 4}, r"reviewers_per_rationale: 4 .* among 4 teachers .* 3 or less"),
        ({"reviewers_per_rationale": 0}, r"reviewers_per_rationale"),
        (
            {"reviewers_per_rationale": 1, "min_valid_scores": 2},
            r"min_valid_scores: 2 .*reviewers_per_rationale 1",
        ),
        ({"aggregation": "mode"}, r"review\.aggregation"),
    ],
)
def test_impossible_reviewer_controls_are_one_clear_error(review: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"teachers": TEACHERS, "review": review})


def test_reviewer_count_is_not_checked_with_review_off() -> None:
    off = parse_config({"teachers": TEACHERS, "review": {"enabled": False, "reviewers_per_rationale": 9}})
    assert off.review.reviewers_per_rationale == 9


# --- authorship ---------------------------------------------------------------------------------


def test_review_prompts_hide_the_author_unless_asked() -> None:
    prompts = PromptSet()
    hidden = plan_reviews(COMMITTEE[1], EXAMPLES, RATIONALES[:1], prompts)
    text = "\n".join(m.content for m in hidden[0].request.messages)
    assert "a-model" not in text and "written by" not in text.replace("written by other assistants", "")
    config = parse_config({"teachers": TEACHERS, "review": {"show_author": True}})
    plan = review_plan(config.review, config.teachers)
    shown = plan_reviews(COMMITTEE[1], EXAMPLES, RATIONALES[:1], prompts, plan)
    user = shown[0].request.messages[-1].content
    assert user.startswith("The proposed solution below was written by a (model a-model).")
    assert user.endswith(hidden[0].request.messages[-1].content)  # the rest is unchanged
    assert shown[0].request.key() != hidden[0].request.key()


def test_the_author_line_is_a_replaceable_template(tmp_path: Path) -> None:
    (tmp_path / "review_author.txt").write_text("Author: {{ author }}")
    prompts = PromptSet(tmp_path)
    messages = prompts.review(EXAMPLES["q1"], "1 + 1 = 2", author="gpt (model gpt-3.5-turbo)")
    assert messages[-1].content.startswith("Author: gpt (model gpt-3.5-turbo)\n\n")


# --- identity and manifest ----------------------------------------------------------------------


def test_default_controls_leave_the_config_identity_as_before() -> None:
    config = load_config("demo")
    assert set(result_view(config)["review"]) == {"enabled", "threshold", "min_valid_scores", "gold_check"}
    for change in ({"aggregation": "median"}, {"reviewers_per_rationale": 1}, {"show_author": True}):
        other = config.model_copy(update={"review": config.review.model_copy(update=change)})
        assert other.config_hash() != config.config_hash(), change


def test_select_records_the_review_settings_in_the_manifest(tmp_path: Path) -> None:
    where = RoundRef(str(tmp_path), "run", 0)
    store = RunStore(tmp_path, "run").round(0)
    store.write("rationales", RATIONALES[:2])
    calls = [
        {"role": "review", "example_id": "q0", "target": "a", "teacher": r, "status": "ok", "text": f"[{s}]"}
        for r, s in (("b", 5), ("c", 2), ("d", 1))
    ]
    store.write("teacher_calls", calls, part="review-all")
    review = ReviewConfig(aggregation="majority", threshold=2.0)
    select.fn(review, where.table("rationales"), [where.table("teacher_calls", "review-all")], where)
    stage = store.manifest()["stages"]["select-rationales"]
    assert stage["settings"]["aggregation"] == "majority" and stage["settings"]["review_threshold"] == 2.0
    assert stage["settings"]["reviewers_per_rationale"] == "all others"
    assert stage["settings"]["show_author"] is False
    assert set(stage["outputs"]) == {"reviews", "acceptance"} and "rationales" in stage["inputs"]
    acceptance = {r["teacher"]: r for r in store.rows("acceptance")}
    assert not acceptance["a"]["accepted"]  # 1 of 3 above 2: no majority (the mean, 2.67, would accept)
    assert acceptance["a"]["reason"] == "1 of 3 scores > 2 (majority)"
