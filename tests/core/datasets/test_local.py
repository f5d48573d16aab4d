"""Local raw files: split mapping, malformed rows skipped with ids, limits, clear errors (own fixtures)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fair_core.config import DatasetConfig
from fair_core.datasets import DatasetError, LoadResult, SkippedRow, load_examples
from fair_core.datasets.local import strip_option_label, svamp_split


def _cfg(name: str, path: Path, **kw: object) -> DatasetConfig:
    return DatasetConfig(name=name, source="local", path=str(path), **kw)


def _gsm_line(i: int) -> str:
    return json.dumps(
        {"question": f"What is {i} + 1?", "answer": f"{i} + 1 = <<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"}
    )


@pytest.fixture
def gsm_dir(tmp_path: Path) -> Path:
    lines = [
        _gsm_line(0),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"question": "", "answer": "#### 1"}),
        "",  # blank lines are not rows
        json.dumps({"question": "Q?", "answer": "x\n#### lots"}),
        _gsm_line(5),
        _gsm_line(6),
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "test.jsonl").write_text(_gsm_line(9) + "\n", encoding="utf-8")
    return tmp_path


def test_gsm8k_skips_malformed_rows_with_ids(gsm_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fair_core.datasets"):
        result = load_examples(_cfg("gsm8k", gsm_dir), "train")
    assert isinstance(result, LoadResult)
    assert [e.id for e in result.examples] == ["gsm8k-train-0", "gsm8k-train-5", "gsm8k-train-6"]
    assert [e.answer for e in result.examples] == ["1", "6", "7"]
    assert result.examples[0].solution == "0 + 1 = 1"
    assert [s.row_id for s in result.skipped] == ["line 2", "gsm8k-train-2", "gsm8k-train-3", "gsm8k-train-4"]
    reasons = [s.reason for s in result.skipped]
    assert reasons[0].startswith("invalid JSON: train.jsonl line 2")
    assert reasons[1].startswith("not an object")
    assert reasons[2].startswith("missing question")
    assert reasons[3].startswith("unparseable gold answer")
    assert all(isinstance(s, SkippedRow) for s in result.skipped)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per file, with counts
    assert "skipped 4 of 7 rows" in warnings[0].getMessage()
    assert "train.jsonl" in warnings[0].getMessage()


def test_limits_take_first_valid_rows(gsm_dir: Path) -> None:
    cfg = _cfg("gsm8k", gsm_dir, train_limit=2, test_limit=1)
    assert [e.id for e in load_examples(cfg, "train").examples] == ["gsm8k-train-0", "gsm8k-train-5"]
    assert len(load_examples(cfg, "test").examples) == 1
    renamed = _cfg("gsm8k", gsm_dir, train_split="test", test_split="train", train_limit=5, test_limit=1)
    assert len(load_examples(renamed, "train").examples) == 1  # the limit follows the split's role


def test_missing_file_names_it(gsm_dir: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_examples(_cfg("gsm8k", gsm_dir), "validation")
    message = str(err.value)
    assert "gsm8k" in message and "'validation'" in message and "validation.jsonl" in message
    assert str(gsm_dir) in message and "test.jsonl, train.jsonl" in message


def test_missing_folder_and_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_examples(_cfg("strategyqa", tmp_path / "nowhere"), "train")
    with pytest.raises(DatasetError, match="path` is required"):
        load_examples(DatasetConfig(name="gsm8k", source="local"), "train")


def test_explicit_file_serves_any_split(gsm_dir: Path) -> None:
    result = load_examples(_cfg("gsm8k", gsm_dir / "test.jsonl"), "train")
    assert [e.answer for e in result.examples] == ["10"]


def _sqa(qid: str, answer: object) -> dict[str, object]:
    return {"qid": qid, "question": f"Is {qid} true?", "answer": answer, "facts": [f"{qid} fact."]}


def test_strategyqa_dev_serves_test(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text(
        json.dumps([_sqa("a", True), _sqa("b", False), "junk", _sqa("c", "perhaps"), _sqa("a", True)])
    )
    (tmp_path / "dev.json").write_text(json.dumps([_sqa("d", False)]))
    train = load_examples(_cfg("strategyqa", tmp_path), "train")
    assert [(e.id, e.answer) for e in train.examples] == [("a", "true"), ("b", "false")]
    assert [s.row_id for s in train.skipped] == ["train.json index 2", "c", "a"]
    assert train.skipped[-1].reason == "duplicate id"
    for split in ("test", "dev", "validation"):
        assert [e.id for e in load_examples(_cfg("strategyqa", tmp_path), split).examples] == ["d"]
    (tmp_path / "test.json").write_text(json.dumps([_sqa("t", True)]))
    assert [e.id for e in load_examples(_cfg("strategyqa", tmp_path), "test").examples] == ["t"]


def test_unreadable_json_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text("{broken")
    with pytest.raises(DatasetError, match=r"train\.json: cannot read as JSON"):
        load_examples(_cfg("strategyqa", tmp_path), "train")
    (tmp_path / "train.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(DatasetError, match="expected a JSON list"):
        load_examples(_cfg("strategyqa", tmp_path), "train")


def _svamp(i: int) -> dict[str, object]:
    return {
        "ID": f"chal-{i}",
        "Body": f"Sam has {i} apples.",
        "Question": "How many?",
        "Equation": f"( {i}.0 )",
        "Answer": float(i),
    }


def test_svamp_single_file_is_split_deterministically(tmp_path: Path) -> None:
    rows = [_svamp(i) for i in range(1, 21)]
    (tmp_path / "SVAMP.json").write_text(json.dumps(rows))
    train = load_examples(_cfg("svamp", tmp_path), "train").examples
    test = load_examples(_cfg("svamp", tmp_path), "test").examples
    assert (len(train), len(test)) == (14, 6)
    assert {e.id for e in train}.isdisjoint(e.id for e in test)
    assert {e.id for e in train} | {e.id for e in test} == {f"chal-{i}" for i in range(1, 21)}
    # the division depends on the IDs only, not on the file order, and the file path works too
    (tmp_path / "shuffled.json").write_text(json.dumps(rows[::-1]))
    again = load_examples(_cfg("svamp", tmp_path / "shuffled.json"), "train").examples
    assert [e.id for e in again] == [e.id for e in train]
    # the config's own split names map onto the two parts
    named = _cfg("svamp", tmp_path, train_split="fit", test_split="eval")
    assert [e.id for e in load_examples(named, "eval").examples] == [e.id for e in test]
    with pytest.raises(DatasetError, match=r"svamp split 'dev'.*no splits"):
        load_examples(_cfg("svamp", tmp_path), "dev")


def test_svamp_split_helper_is_stable() -> None:
    rows = [_svamp(i) for i in range(1, 11)]
    train, test = svamp_split(rows)
    assert (len(train), len(test)) == (7, 3)
    assert svamp_split(list(reversed(rows))) == (train, test)


def test_svamp_per_split_files(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text(json.dumps([_svamp(1), _svamp(2)]))
    (tmp_path / "test.json").write_text(json.dumps([_svamp(3)]))
    assert [e.id for e in load_examples(_cfg("svamp", tmp_path), "train").examples] == ["chal-1", "chal-2"]
    assert [e.answer for e in load_examples(_cfg("svamp", tmp_path), "test").examples] == ["3"]
    with pytest.raises(DatasetError, match=r"no dev\.json or SVAMP\.json"):
        load_examples(_cfg("svamp", tmp_path), "dev")


LOGIQA_TEXT = """
a
Context one.
Question one?
A.First option.
B.Second option.
C.Third option.
D.Fourth option.

c
Context two.
Question two?
A Only three
B? options
c.here

d
Context three.
Question three?
A.x
C.Swapped labels keep their position.
B.y
d.z
"""


def test_logiqa_text_file(tmp_path: Path) -> None:
    (tmp_path / "Eval.txt").write_text(LOGIQA_TEXT, encoding="utf-8")
    (tmp_path / "Test.txt").write_text(LOGIQA_TEXT, encoding="utf-8")
    result = load_examples(_cfg("logiqa", tmp_path), "train")  # no Train.txt: Eval.txt
    assert [e.id for e in result.examples] == ["logiqa-train-0", "logiqa-train-2"]
    first, third = result.examples
    assert (first.context, first.question, first.answer) == ("Context one.", "Question one?", "A")
    assert first.options == ("First option.", "Second option.", "Third option.", "Fourth option.")
    assert third.answer == "D"
    assert third.options == ("x", "Swapped labels keep their position.", "y", "z")
    assert result.skipped == [
        SkippedRow("logiqa-train-1", "wrong option count: expected 4 options, got 3"),
    ]
    assert load_examples(_cfg("logiqa", tmp_path), "test").examples[0].id == "logiqa-test-0"
    (tmp_path / "Train.txt").write_text(LOGIQA_TEXT.split("\nc\n")[0], encoding="utf-8")
    assert len(load_examples(_cfg("logiqa", tmp_path), "train").examples) == 1
    with pytest.raises(DatasetError, match="logiqa split 'holdout': unknown split"):
        load_examples(_cfg("logiqa", tmp_path), "holdout")


def test_strip_option_label() -> None:
    assert strip_option_label("A.The brain", 0) == "The brain"
    assert strip_option_label("A The brain", 0) == "The brain"
    assert strip_option_label("A small amount", 2) == "A small amount"  # not this option's own letter
    assert strip_option_label("d.The rate", 3) == "The rate"
    assert strip_option_label("Country A.H grows", 0) == "Country A.H grows"


# --- issue 12: local files that split a dataset unlike the Hub copy the paper used say so, once ----------


def _load_warnings(caplog: pytest.LogCaptureFixture, cfg: DatasetConfig, split: str) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fair_core.datasets"):
        load_examples(cfg, split)
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_local_strategyqa_warns_that_its_split_is_not_the_hubs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "train.json").write_text(json.dumps([_sqa("a", True)]))
    (tmp_path / "dev.json").write_text(json.dumps([_sqa("d", False)]))
    cfg = _cfg("strategyqa", tmp_path)
    for split, file in (("train", "train.json"), ("test", "dev.json")):
        warnings = _load_warnings(caplog, cfg, split)
        assert len(warnings) == 1, warnings
        text = warnings[0]
        assert f"strategyqa split '{split}' reads {file}" in text
        assert "2061 / dev 229" in text and "ChilleD/StrategyQA" in text and "1603 / test 687" in text
    assert load_examples(cfg, "train").notes == [_load_warnings(caplog, cfg, "train")[0]]
    (tmp_path / "test.json").write_text(json.dumps([_sqa("t", True)]))  # ChilleD's own split: no warning
    assert _load_warnings(caplog, cfg, "train") == _load_warnings(caplog, cfg, "test") == []


def test_local_svamp_and_logiqa_warn_only_where_they_differ(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, gsm_dir: Path
) -> None:
    (tmp_path / "SVAMP.json").write_text(json.dumps([_svamp(i) for i in range(1, 11)]))
    for cfg in (_cfg("svamp", tmp_path), _cfg("svamp", tmp_path / "SVAMP.json")):
        (warning,) = _load_warnings(caplog, cfg, "test")
        assert "svamp split 'test'" in warning and "not its assignment" in warning
    chilled = tmp_path / "chilled"
    chilled.mkdir()
    (chilled / "train.json").write_text(json.dumps([_svamp(1)]))
    assert _load_warnings(caplog, _cfg("svamp", chilled), "train") == []  # ChilleD's own files
    logiqa = tmp_path / "logiqa"
    logiqa.mkdir()
    (logiqa / "Eval.txt").write_text(LOGIQA_TEXT, encoding="utf-8")
    (logiqa / "Test.txt").write_text(LOGIQA_TEXT, encoding="utf-8")
    train_warnings = [w for w in _load_warnings(caplog, _cfg("logiqa", logiqa), "train") if "reads" in w]
    assert len(train_warnings) == 1 and "Eval.txt" in train_warnings[0] and "7376" in train_warnings[0]
    assert not [w for w in _load_warnings(caplog, _cfg("logiqa", logiqa), "test") if "Hub copy" in w]
    assert not [w for w in _load_warnings(caplog, _cfg("gsm8k", gsm_dir), "train") if "Hub copy" in w]
