"""Bad and oversized input: undecodable bytes, empty files, over-long examples (skip / truncate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import ConfigError, DatasetConfig
from fair_core.datasets import DatasetError, load_examples
from fair_core.datasets import gym as gym_module
from fair_core.datasets.limits import estimate_tokens


def _cfg(name: str, path: Path, **kw: object) -> DatasetConfig:
    return DatasetConfig(name=name, source="local", path=str(path), **kw)


def _gsm(i: int, question: str | None = None) -> bytes:
    row = {"question": question or f"What is {i} + 1?", "answer": f"#### {i + 1}"}
    return json.dumps(row).encode()


def test_a_bad_byte_skips_only_its_jsonl_line(tmp_path: Path) -> None:
    bad = _gsm(1).replace(b"What", b"Wh\xffat")
    (tmp_path / "train.jsonl").write_bytes(b"\n".join([_gsm(0), bad, _gsm(2)]) + b"\n")
    result = load_examples(_cfg("gsm8k", tmp_path), "train")
    assert [e.id for e in result.examples] == ["gsm8k-train-0", "gsm8k-train-2"]
    assert [s.row_id for s in result.skipped] == ["line 2"]
    assert result.skipped[0].reason == "not UTF-8: train.jsonl line 2: byte 0xff at column 17"


def test_a_bad_byte_skips_only_its_json_row(tmp_path: Path) -> None:
    rows = [
        {"qid": "a", "question": "Is it?", "answer": True},
        {"qid": "b", "question": "Is it BAD?", "answer": False},
        {"qid": "c", "question": "Is it BAD too?", "answer": True},
        {"qid": "d", "question": "Is it?", "answer": False},
    ]
    text = json.dumps(rows, indent=1).encode().replace(b"BAD", b"\xfe\xfe")
    (tmp_path / "train.json").write_bytes(text)
    result = load_examples(_cfg("strategyqa", tmp_path), "train")
    assert [e.id for e in result.examples] == ["a", "d"]
    lines = text.decode("latin-1").splitlines()
    bad_lines = [n for n, line in enumerate(lines, start=1) if "\xfe" in line]
    assert [s.reason for s in result.skipped] == [
        f"not UTF-8: train.json index 1, line {bad_lines[0]}: byte 0xfe",
        f"not UTF-8: train.json index 2, line {bad_lines[1]}: byte 0xfe",
    ]


def test_a_bad_byte_skips_only_its_logiqa_item(tmp_path: Path) -> None:
    item = ["", "a", "Some context.", "Which one?", "A.one", "B.two", "C.three", "D.four"]
    bad = ["", "b", "Bad cont\x00ext.", "Which?", "A.one", "B.two", "C.three", "D.four"]
    text = "\n".join(item + bad + item).encode().replace(b"\x00", b"\xc3")
    (tmp_path / "Test.txt").write_bytes(text)
    result = load_examples(_cfg("logiqa", tmp_path), "test")
    assert [e.id for e in result.examples] == ["logiqa-test-0", "logiqa-test-2"]
    assert [s.reason for s in result.skipped] == ["not UTF-8: Test.txt line 11: byte 0xc3"]


def test_an_escaped_lone_surrogate_is_skipped_not_stored(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(
        '{"question": "Why \\ud800?", "answer": "#### 1"}\n' + _gsm(1).decode() + "\n"
    )
    result = load_examples(_cfg("gsm8k", tmp_path), "train")
    assert [e.id for e in result.examples] == ["gsm8k-train-1"]
    assert result.skipped[0].reason.startswith("invalid text: a lone surrogate")


@pytest.mark.parametrize(("name", "file"), [("gsm8k", "train.jsonl"), ("strategyqa", "train.json")])
def test_an_empty_file_is_one_clear_error(tmp_path: Path, name: str, file: str) -> None:
    (tmp_path / file).write_text("\n  \n")
    with pytest.raises(DatasetError, match=rf"{file}: the file is empty") as err:
        load_examples(_cfg(name, tmp_path), "train")
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)


def test_a_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset.path .*nowhere does not exist"):
        load_examples(_cfg("gsm8k", tmp_path / "nowhere"), "train")


def test_an_oversize_question_is_skipped_by_id(tmp_path: Path) -> None:
    huge = "How many? " + "x" * 1_000_000
    (tmp_path / "train.jsonl").write_bytes(b"\n".join([_gsm(0), _gsm(1, huge), _gsm(2)]))
    result = load_examples(_cfg("gsm8k", tmp_path, train_limit=2), "train")
    assert [e.id for e in result.examples] == ["gsm8k-train-0", "gsm8k-train-2"]  # limit: valid rows
    assert [s.row_id for s in result.skipped] == ["gsm8k-train-1"]
    tokens = estimate_tokens(huge.strip())
    assert result.skipped[0].reason == (
        f"too long: {tokens} estimated tokens > dataset.max_input_tokens 4096 "
        f"(question {tokens}, context 0, options 0)"
    )
    unlimited = load_examples(_cfg("gsm8k", tmp_path, max_input_tokens=None), "train")
    assert len(unlimited.examples) == 3 and not unlimited.skipped


def test_truncate_keeps_beginning_and_end_within_the_limit(tmp_path: Path) -> None:
    question = "Tom has 3 apples. " + "He walks. " * 5000 + "How many apples does Tom have?"
    (tmp_path / "train.jsonl").write_bytes(_gsm(0, question) + b"\n" + _gsm(1))
    cfg = _cfg("gsm8k", tmp_path, max_input_tokens=100, too_long="truncate")
    result = load_examples(cfg, "train")
    assert [e.id for e in result.examples] == ["gsm8k-train-0", "gsm8k-train-1"] and not result.skipped
    cut = result.examples[0].question
    assert cut.startswith("Tom has 3 apples.") and cut.endswith("How many apples does Tom have?")
    assert " [...] " in cut and estimate_tokens(cut) <= 100
    assert [s.row_id for s in result.truncated] == ["gsm8k-train-0"]
    assert result.truncated[0].reason.startswith("truncated: ")


def test_truncate_cuts_the_context_first(tmp_path: Path) -> None:
    item = ["", "a", "Long context. " * 400 + "The end.", "Which one?", "A.one", "B.two", "C.three", "D.four"]
    (tmp_path / "Test.txt").write_text("\n".join(item))
    cfg = _cfg("logiqa", tmp_path, max_input_tokens=200, too_long="truncate")
    example = load_examples(cfg, "test").examples[0]
    assert example.question == "Which one?" and example.options == ("one", "two", "three", "four")
    assert example.context is not None and example.context.endswith("The end.")
    total = sum(estimate_tokens(t) for t in [example.question, example.context, *example.options])
    assert total <= 200


def test_gym_items_over_the_limit_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(task: str, size: int, seed: int, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"question": "Q" * (100 if i == 1 else 10), "answer": str(i)} for i in range(size)]

    monkeypatch.setattr(gym_module, "_create_dataset", fake)
    cfg = DatasetConfig(
        name="reasoning_gym", max_input_tokens=10, gym={"task": "fake", "train_size": 3, "test_size": 1}
    )
    result = load_examples(cfg, "train")
    assert [e.id for e in result.examples] == ["fake-train-0", "fake-train-2"]
    assert [s.row_id for s in result.skipped] == ["fake-train-1"]


def test_tokenizer_counts_when_set(tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    question = "What is 12345 + 67890? " * 20
    tokens = len(tokenizer(question.strip(), add_special_tokens=False)["input_ids"])
    (tmp_path / "train.jsonl").write_bytes(_gsm(0, question))
    cfg = _cfg("gsm8k", tmp_path, max_input_tokens=tokens - 1, tokenizer=str(tiny_model_dir))
    result = load_examples(cfg, "train")
    assert not result.examples
    assert result.skipped[0].reason.startswith(f"too long: {tokens} tokenizer tokens")
    fits = load_examples(cfg.model_copy(update={"max_input_tokens": tokens}), "train")
    assert len(fits.examples) == 1


def test_a_tokenizer_that_is_not_local_is_named(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_bytes(_gsm(0, "x" * 50_000))
    cfg = _cfg("gsm8k", tmp_path, tokenizer=str(tmp_path / "no-model"))
    with pytest.raises(DatasetError, match=r"dataset.tokenizer .*no-model.*: no tokenizer there"):
        load_examples(cfg, "train")


def test_hub_errors_are_one_line_and_say_whether_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    from fair_core.datasets import DatasetUnavailable, hub

    def unknown_split(hub_id: str, config: str | None, split: str) -> list[Any]:
        raise ValueError(f"Unknown split \"{split}\".\nShould be one of ['train', 'test'].")

    def offline(hub_id: str, config: str | None, split: str) -> list[Any]:
        raise ConnectionError("Couldn't reach\n'https://huggingface.co'")

    monkeypatch.setattr(hub, "_load_hub_split", unknown_split)
    with pytest.raises(DatasetError) as err:
        load_examples(DatasetConfig(name="gsm8k"), "dev")
    assert not isinstance(err.value, DatasetUnavailable) and "\n" not in str(err.value)
    assert 'Unknown split "dev"' in str(err.value)
    monkeypatch.setattr(hub, "_load_hub_split", offline)
    with pytest.raises(DatasetUnavailable, match="Offline") as err:
        load_examples(DatasetConfig(name="gsm8k"), "train")
    assert "\n" not in str(err.value)
