"""Peer-review score parsing and acceptance, including the paper code's SVAMP round-0 reproduction."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fair_core.review import judge, parse_score, select_rationales, valid_scores
from fair_core.store import RunStore
from fair_core.store.reference import REFERENCE_TEACHERS, ReferenceFormatError, import_reference


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("The solution is correct. [5]", 5),
        ("Step 1 [1] is fine, step 2 too. Overall: [4]", 4),
        ("Score: [ 3 ]", 3),
        ("I rate it [4/5].", 4),
        ("I would give it 4/5 overall.", 4),
        ("3 steps, all right, so 5", 5),
        ("Final score: 2", 2),
        ("[7]", 7),  # parsed as written; rejected later as outside 1..5
        ("[0]", 0),
        ("score [2.5]", None),  # not an integer score
        ("no score given", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_score(text: str | None, score: int | None) -> None:
    assert parse_score(text) == score


def test_valid_scores_keeps_one_to_five() -> None:
    assert valid_scores([5, 0, 6, None, 1, 83, -1, 3]) == [5.0, 1.0, 3.0]


def test_judge_threshold_is_strict() -> None:
    assert judge([3, 3]).accepted is False
    assert judge([4, 3]).accepted is True
    assert judge([5, 83]).accepted is True  # 83 is invalid, the mean of [5] decides
    assert judge([0, 83]).accepted is False  # no valid score
    assert judge([4, 4], min_valid=3).accepted is False


def test_judge_gold_check_and_review_off() -> None:
    assert judge([5, 5], gold_ok=False, require_gold=True).accepted is False
    assert judge([5, 5], gold_ok=True, require_gold=True).accepted is True
    assert judge([], review_enabled=False).accepted is True
    assert judge([5, 5], parsed=False).accepted is False


def test_select_rationales_uses_every_reviewer() -> None:
    rationales = [
        {"example_id": "1", "teacher": "a", "text": "x", "status": "ok", "gold_ok": True},
        {"example_id": "1", "teacher": "b", "text": "y", "status": "ok", "gold_ok": False},
        {"example_id": "2", "teacher": "a", "text": None, "status": "refused", "gold_ok": None},
    ]
    reviews = [
        {"example_id": "1", "author": "a", "reviewer": "b", "score": 5},
        {"example_id": "1", "author": "a", "reviewer": "c", "score": 2},
        {"example_id": "1", "author": "b", "reviewer": "a", "score": None},
        {"example_id": "1", "author": "b", "reviewer": "c", "score": 4},
    ]
    rows = {(r["example_id"], r["teacher"]): r for r in select_rationales(rationales, reviews)}
    assert rows[("1", "a")]["accepted"] and rows[("1", "a")]["mean_score"] == 3.5
    assert rows[("1", "b")]["accepted"] and rows[("1", "b")]["n_valid"] == 1
    assert not rows[("2", "a")]["accepted"]
    gold = {
        (r["example_id"], r["teacher"]): r for r in select_rationales(rationales, reviews, require_gold=True)
    }
    assert gold[("1", "a")]["accepted"] and not gold[("1", "b")]["accepted"]


def test_reference_svamp_round0_acceptance_is_reproduced(shared_datasets, tmp_path) -> None:
    """Our selection on the paper code's SVAMP rationales accepts exactly what the reference accepted."""
    folder = shared_datasets / "reference_round0"
    store = RunStore(tmp_path, "reference").round(0)
    summary = import_reference(folder, store)
    assert summary.questions == 387
    acceptance = select_rationales(store.rows("rationales"), store.rows("reviews"), threshold=3.0)

    accepted = Counter(a["example_id"] for a in acceptance if a["accepted"])
    per_question = Counter(accepted.get(e, 0) for e in {a["example_id"] for a in acceptance})
    assert dict(per_question) == {3: 167, 2: 127, 1: 71, 0: 22}
    per_teacher = Counter(a["teacher"] for a in acceptance if a["accepted"])
    assert dict(per_teacher) == {"mixtral": 319, "gpt": 286, "gemini": 221}
    assert summary.reference_accepted == dict(per_teacher)

    # the same rationales, question by question, as the reference's `correct_rationale` lists
    texts = {(r["example_id"], r["teacher"]): r["text"] for r in store.rows("rationales")}
    ours = {}
    for a in acceptance:
        if a["accepted"]:
            ours.setdefault(a["example_id"], set()).add(texts[(a["example_id"], a["teacher"])])
    reference = json.loads(next(folder.glob("*_rationale_round0.json")).read_text())
    for row in reference:
        assert ours.get(str(row["id"]), set()) == set(row["correct_rationale"]), row["id"]
    assert set(REFERENCE_TEACHERS.values()) == set(per_teacher)


def test_import_reference_names_the_missing_file(tmp_path) -> None:
    (tmp_path / "x_false_round0.json").write_text("[]")
    with pytest.raises(ReferenceFormatError, match=r"_feedback_round0\.json"):
        import_reference(tmp_path, RunStore(tmp_path, "r").round(0))


def test_import_reference_names_the_bad_row(tmp_path) -> None:
    for role in ("false", "feedback"):
        (tmp_path / f"x_{role}_round0.json").write_text("[]")
    row = {"id": 7, "question": "q", "gold_answer": "3"}
    (tmp_path / "x_rationale_round0.json").write_text(json.dumps([row]))
    with pytest.raises(ReferenceFormatError, match=r"id=7.*gpt_rationale"):
        import_reference(tmp_path, RunStore(tmp_path, "r").round(0))
