"""The distilled dataset: one row per trained sample with its provenance, as Parquet that `datasets`
loads through the card's `configs`; refusals as one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.export import ExportError, export_run
from fair_core.export.dataset import SCHEMA, distilled_rows
from fair_core.export.source import locate
from tests.core.export.run_store import RUN_ID, build_run


def _by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["sample_id"]: r for r in rows}


@pytest.mark.parametrize("data", ["round", "cumulative"])
def test_rows_carry_question_round_teacher_reviews_and_acceptance(tmp_path: Path, data: str) -> None:
    build_run(tmp_path, data=data)
    rows = _by_id(distilled_rows(locate(tmp_path, RUN_ID)))
    assert sorted(rows) == ["s-f-q1", "s-r-q1", "s-r-q2"]  # cumulative: round 1's copy of round 0 once
    rationale = rows["s-r-q1"]
    assert (rationale["round"], rationale["task"], rationale["question_id"]) == (0, "rationale", "q1")
    assert (rationale["teacher"], rationale["teacher_provider"], rationale["teacher_model"]) == (
        "gpt",
        "openai",
        "gpt-4o-mini",
    )
    assert rationale["review_scores"] == [
        {"reviewer": "gem", "score": 4, "valid": True},
        {"reviewer": "mix", "score": 5, "valid": True},
    ]
    assert rationale["review_mean"] == 4.5 and rationale["review_aggregate"] == 4.5
    assert rationale["accepted"] is True and rationale["acceptance_reason"] == "mean 4.50 > 3"
    assert (rationale["question"], rationale["gold_answer"]) == ("What is q1?", "1")
    assert rationale["messages"] == [
        {"role": "user", "content": "rationale prompt for q1"},
        {"role": "assistant", "content": "gpt says: the answer of q1"},
    ]
    feedback = rows["s-f-q1"]
    assert feedback["task"] == "feedback" and feedback["student_answer"] == "wrong q1"
    assert feedback["review_scores"] == [] and feedback["review_mean"] is None
    later = rows["s-r-q2"]
    assert later["round"] == 1 and later["teacher_provider"] == "openai" and later["review_mean"] == 5.0


def test_the_export_folder_loads_with_datasets(tmp_path: Path) -> None:
    import datasets

    build_run(tmp_path / "data")
    result = export_run(tmp_path / "data", RUN_ID, tmp_path / "out")
    assert result.rows == 3 and result.dataset_file.is_file()
    loaded = datasets.load_dataset(str(tmp_path / "out"))
    assert list(loaded) == ["train"] and loaded["train"].num_rows == 3
    assert loaded["train"].column_names == SCHEMA.names
    scores = {r["sample_id"]: r["review_scores"] for r in loaded["train"]}
    assert [s["score"] for s in scores["s-r-q1"]] == [4, 5]


def test_round_option_exports_the_earlier_rounds_only(tmp_path: Path) -> None:
    build_run(tmp_path)
    source = locate(tmp_path, RUN_ID, 0)
    assert source.rounds == [0] and source.model_dir is None  # round 0 saved no student here
    assert sorted(r["sample_id"] for r in distilled_rows(source)) == ["s-f-q1", "s-r-q1"]


def test_refusals_name_the_problem(tmp_path: Path) -> None:
    build_run(tmp_path / "data")
    with pytest.raises(ExportError, match=r"run 'nope' not found under .*runs there: export-run"):
        locate(tmp_path / "data", "nope")
    with pytest.raises(
        ExportError, match=r"--round 5: round 5 of run 'export-run' is not finished \(finished: 0, 1\)"
    ):
        locate(tmp_path / "data", RUN_ID, 5)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(ExportError, match="exists and is not empty"):
        export_run(tmp_path / "data", RUN_ID, busy)
    with pytest.raises(ExportError, match="replaces only an earlier export"):
        export_run(tmp_path / "data", RUN_ID, busy, overwrite=True)
    assert (busy / "mine.txt").read_text() == "keep me"
    export_run(tmp_path / "data", RUN_ID, tmp_path / "out")
    export_run(tmp_path / "data", RUN_ID, tmp_path / "out", overwrite=True)  # an earlier export: replaced
