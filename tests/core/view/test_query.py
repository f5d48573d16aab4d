"""The viewer's queries on a small real run (RunStore Parquet): flags, filters, search, pages, detail."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.store import RunStore
from fair_core.view import Filters, RunView, ViewError
from tests.core.view.run_builder import EVIL, TEACHERS, build_run


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> RunView:
    data = tmp_path_factory.mktemp("view")
    build_run(data, "r", n_train=30, n_test=10)
    return RunView(data, "r")


def _rows(run: RunStore, k: int, name: str) -> list[dict]:
    return run.round(k).rows_if_present(name)


def test_index_flags_match_the_tables(view: RunView) -> None:
    run = view.run
    index = {row["id"]: row for row in view.index()}
    assert len(index) == 40 and view.rounds == [0, 1]
    for k in view.rounds:
        train = {r["example_id"]: r for r in _rows(run, k, "student_outputs")}
        later = (
            {r["example_id"]: r for r in _rows(run, k + 1, "student_outputs")} if k + 1 in view.rounds else {}
        )
        before_test = _rows(run, 0, "baseline_evaluation") if k == 0 else _rows(run, k - 1, "evaluation")
        before_test = {r["example_id"]: r for r in before_test}
        after_test = {r["example_id"]: r for r in _rows(run, k, "evaluation")}
        accepted = {(a["example_id"], a["teacher"]) for a in _rows(run, k, "acceptance") if a["accepted"]}
        rejected = {(a["example_id"], a["teacher"]) for a in _rows(run, k, "acceptance") if not a["accepted"]}
        for ex_id, row in index.items():
            e = row["r"][k]
            before, after = (train, later) if row["split"] == "train" else (before_test, after_test)
            assert e["ok"] == before[ex_id]["correct"]
            assert e["after"] == (after[ex_id]["correct"] if ex_id in after else None)
            assert e["fixed"] == (e["ok"] is False and e["after"] is True)
            assert e["broken"] == (e["ok"] is True and e["after"] is False)
            unp = [a[ex_id]["predicted"] is None for a in (before, after) if ex_id in a]
            assert e["unp"] == any(unp)
            assert e["acc"] == sorted(t for t in TEACHERS if (ex_id, t) in accepted)
            assert e["rej"] == sorted(t for t in TEACHERS if (ex_id, t) in rejected)


@pytest.mark.parametrize(
    "f",
    [
        Filters(accepted=True),
        Filters(rejected=True, teacher="gpt"),
        Filters(accepted=True, teacher="mixtral", round=1),
        Filters(teacher="gemini"),
        Filters(fixed=True),
        Filters(broken=True, split="test"),
        Filters(unparseable=True),
        Filters(round=0, fixed=True, accepted=True),
    ],
)
def test_filters_hold_in_one_round(view: RunView, f: Filters) -> None:
    expected = []
    for row in view.index():
        if f.split and row["split"] != f.split:
            continue
        rounds = [f.round] if f.round is not None else view.rounds
        for k in rounds:
            e = row["r"][view.rounds.index(k)]
            if e is None:
                continue
            checks = [
                not f.accepted or bool(f.teacher in e["acc"] if f.teacher else e["acc"]),
                not f.rejected or bool(f.teacher in e["rej"] if f.teacher else e["rej"]),
                not f.teacher or f.accepted or f.rejected or f.teacher in e["acc"] + e["rej"] + e["fb"],
                not f.fixed or e["fixed"],
                not f.broken or e["broken"],
                not f.unparseable or e["unp"],
            ]
            if all(checks):
                expected.append(row["id"])
                break
    got = [row["id"] for row in view.matching(f)]
    assert got == expected and got, f


def test_search_finds_question_and_rationale_text(view: RunView) -> None:
    assert [r["id"] for r in view.matching(Filters(search="TRAIN-00007"))] == ["train-00007"]
    hits = view.matching(Filters(search="onerror=alert"))  # only in one rationale, case-insensitive
    detail = view.detail(hits[0]["id"])
    assert len(hits) == 1 and any(EVIL in r["text"] for r in detail["rounds"][0]["rationales"])
    assert view.matching(Filters(search="no such words anywhere")) == []


def test_pages_split_the_matches(view: RunView) -> None:
    first, second = view.page(Filters(), 1, 25), view.page(Filters(), 2, 25)
    assert first["total"] == 40 and first["pages"] == 2 and len(first["rows"]) == 25
    assert [r["id"] for r in first["rows"] + second["rows"]] == [r["id"] for r in view.index()]
    with pytest.raises(ViewError, match="page 0"):
        view.page(Filters(), 0)
    with pytest.raises(ViewError, match="round 7"):
        view.page(Filters(round=7))


def test_filters_from_query_params() -> None:
    f = Filters.from_params({"accepted": "1", "teacher": "gpt", "round": "1", "search": " x ", "page": "2"})
    assert f == Filters(accepted=True, teacher="gpt", round=1, search="x")
    with pytest.raises(ViewError, match="unknown filter 'colour'"):
        Filters.from_params({"colour": "red"})
    with pytest.raises(ViewError, match="round 'one'"):
        Filters.from_params({"round": "one"})


def test_detail_holds_every_stage_of_a_mistake(view: RunView) -> None:
    run = view.run
    mistake = _rows(run, 0, "mistakes")[0]["example_id"]
    d = view.detail(mistake)
    r0 = d["rounds"][0]
    assert d["split"] == "train" and d["answer"] == _rows(run, 0, "mistakes")[0]["gold"]
    assert r0["mistake"] and [a["table"] for a in r0["answers"]] == ["student_outputs", "student_outputs"]
    assert [a["round"] for a in r0["answers"]] == [0, 1]
    assert sorted(f["teacher"] for f in r0["feedback"]) == sorted(TEACHERS)
    assert sorted(r["teacher"] for r in r0["rationales"]) == sorted(TEACHERS)
    acceptance = {(a["example_id"], a["teacher"]): a for a in _rows(run, 0, "acceptance")}
    reviews = [v for v in _rows(run, 0, "reviews") if v["example_id"] == mistake]
    for r in r0["rationales"]:
        a = acceptance[(mistake, r["teacher"])]
        assert r["acceptance"]["accepted"] == a["accepted"] and r["acceptance"]["reason"] == a["reason"]
        assert r["acceptance"]["mean_score"] == a["mean_score"]
        mine = [(v["reviewer"], v["score"], v["text"]) for v in reviews if v["author"] == r["teacher"]]
        assert [(v["reviewer"], v["score"], v["text"]) for v in r["reviews"]] == mine and len(mine) == 2
    samples = [s for s in _rows(run, 0, "training_samples") if s["example_id"] == mistake]
    assert [s["sample_id"] for s in r0["samples"]] == [s["sample_id"] for s in samples]
    assert len(r0["calls"]) == 3 + 3 + 6  # feedback, rationale, review calls for this question
    assert d["review"]["threshold"] == 3.0


def test_detail_of_a_test_question_is_before_and_after(view: RunView) -> None:
    d = view.detail("test-00000")
    assert [(a["round"], a["table"]) for a in d["rounds"][0]["answers"]] == [
        (0, "baseline_evaluation"),
        (0, "evaluation"),
    ]
    assert [(a["round"], a["table"]) for a in d["rounds"][1]["answers"]] == [
        (0, "evaluation"),
        (1, "evaluation"),
    ]
    with pytest.raises(ViewError, match="question 'nope' is not in run r"):
        view.detail("nope")


def test_a_missing_run_names_the_folder(tmp_path: Path) -> None:
    build_run(tmp_path, "there", n_train=2, n_test=1, accuracy=(0.5, 0.5))
    with pytest.raises(ViewError, match=r"run 'gone' not found under .*runs there: there"):
        RunView(tmp_path, "gone")
    (tmp_path / "runs" / "empty").mkdir()
    with pytest.raises(ViewError, match="no round folders"):
        RunView(tmp_path, "empty")
