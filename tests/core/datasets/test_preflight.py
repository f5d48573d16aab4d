"""`check_dataset`: every user error found before any work, as one ConfigError line naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import ConfigError, DatasetConfig
from fair_core.datasets.preflight import check_dataset


def _local(name: str, path: Path, **kw: Any) -> DatasetConfig:
    return DatasetConfig(name=name, source="local", path=str(path), **kw)


def _gym(task: str, options: dict[str, Any] | None = None) -> DatasetConfig:
    return DatasetConfig(name="reasoning_gym", gym={"task": task, "options": options or {}})


@pytest.fixture
def gsm_dir(tmp_path: Path) -> Path:
    row = json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"})
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text(row + "\n")
    return tmp_path


def _error(cfg: DatasetConfig) -> str:
    with pytest.raises(ConfigError) as err:
        check_dataset(cfg)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_good_configs_pass(gsm_dir: Path) -> None:
    check_dataset(_local("gsm8k", gsm_dir))
    check_dataset(_gym("chain_sum", {"min_terms": 2, "max_terms": 3, "seed": 7}))
    check_dataset(DatasetConfig(name="gsm8k"))  # the Hub: nothing is downloaded, nothing checked


def test_missing_path(tmp_path: Path) -> None:
    assert "dataset.path" in _error(_local("gsm8k", tmp_path / "nowhere"))
    assert "does not exist" in _error(_local("gsm8k", tmp_path / "nowhere"))
    assert "`dataset.path` is required" in _error(DatasetConfig(name="gsm8k", source="local"))


def test_missing_split_file(gsm_dir: Path) -> None:
    message = _error(_local("gsm8k", gsm_dir, test_split="validation"))
    assert "no validation.jsonl in" in message and "test.jsonl, train.jsonl" in message
    (gsm_dir / "test.jsonl").unlink()
    assert "no test.jsonl" in _error(_local("gsm8k", gsm_dir))


def test_unknown_split_of_raw_logiqa(tmp_path: Path) -> None:
    (tmp_path / "Train.txt").write_text("x")
    assert "split 'test2': unknown split" in _error(_local("logiqa", tmp_path, test_split="test2"))


def test_empty_file(gsm_dir: Path) -> None:
    (gsm_dir / "test.jsonl").write_text("")
    assert "test.jsonl: the file is empty" in _error(_local("gsm8k", gsm_dir))


def test_json_that_is_not_a_list(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text('{"a": 1}')
    (tmp_path / "dev.json").write_text("[")
    assert "expected a JSON list" in _error(_local("strategyqa", tmp_path))
    (tmp_path / "train.json").write_text("[]")
    assert "dev.json: cannot read as JSON (line 1" in _error(_local("strategyqa", tmp_path))


def test_unknown_gym_task() -> None:
    assert "dataset.gym.task 'chain_summ': no such reasoning-gym task (did you mean chain_sum" in _error(
        _gym("chain_summ")
    )
    assert "no such reasoning-gym task" in _error(_gym("zzz"))


def test_unknown_gym_option() -> None:
    message = _error(_gym("chain_sum", {"max_term": 3}))
    assert "dataset.gym.options: unknown option(s) 'max_term' for task 'chain_sum'" in message
    assert "max_terms" in message  # the known ones are listed


def test_invalid_gym_option_value() -> None:
    assert "max_terms must be >= min_terms" in _error(_gym("chain_sum", {"min_terms": 5, "max_terms": 2}))
    assert "seed: must be an integer" in _error(_gym("chain_sum", {"seed": "x"}))


def test_same_train_and_test_split(gsm_dir: Path) -> None:
    assert "train_split and test_split are both 'train'" in _error(
        _local("gsm8k", gsm_dir, test_split="train")
    )


def test_tokenizer_not_on_this_machine(gsm_dir: Path) -> None:
    message = _error(_local("gsm8k", gsm_dir, tokenizer=str(gsm_dir / "no-model")))
    assert "dataset.tokenizer" in message and "no tokenizer there" in message
