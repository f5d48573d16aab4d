"""The real public files in ../shared/datasets (skipped when absent): counts, and every row valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fair_core.config import DatasetConfig
from fair_core.datasets import LoadResult, load_examples

NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _load(shared: Path, name: str, split: str) -> LoadResult:
    result = load_examples(DatasetConfig(name=name, source="local", path=str(shared / name)), split)
    assert result.skipped == []
    ids = [e.id for e in result.examples]
    assert len(set(ids)) == len(ids)
    assert all(e.dataset == name and e.question for e in result.examples)
    return result


@pytest.mark.parametrize(("split", "count"), [("train", 7473), ("test", 1319)])
def test_gsm8k(shared_datasets: Path, split: str, count: int) -> None:
    examples = _load(shared_datasets, "gsm8k", split).examples
    assert len(examples) == count
    assert all(NUMBER.fullmatch(e.answer) and e.kind == "numeric" for e in examples)
    assert all(e.solution and "<<" not in e.solution and "####" not in e.solution for e in examples)
    assert examples[0].id == f"gsm8k-{split}-0"


def test_svamp_split(shared_datasets: Path) -> None:
    train = _load(shared_datasets, "svamp", "train").examples
    test = _load(shared_datasets, "svamp", "test").examples
    assert (len(train), len(test)) == (700, 300)
    train_ids, test_ids = {e.id for e in train}, {e.id for e in test}
    assert train_ids.isdisjoint(test_ids) and len(train_ids | test_ids) == 1000
    assert all(NUMBER.fullmatch(e.answer) and e.solution for e in train + test)
    # the same file given explicitly divides the same way
    cfg = DatasetConfig(name="svamp", source="local", path=str(shared_datasets / "svamp" / "SVAMP.json"))
    assert [e.id for e in load_examples(cfg, "test").examples] == [e.id for e in test]


@pytest.mark.parametrize(("split", "count"), [("train", 2061), ("test", 229), ("dev", 229)])
def test_strategyqa(shared_datasets: Path, split: str, count: int) -> None:
    examples = _load(shared_datasets, "strategyqa", split).examples
    assert len(examples) == count
    assert {e.answer for e in examples} == {"true", "false"}
    assert all(e.kind == "boolean" for e in examples)


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_logiqa(shared_datasets: Path, split: str) -> None:
    examples = _load(shared_datasets, "logiqa", split).examples
    assert len(examples) == 651
    assert {e.answer for e in examples} == {"A", "B", "C", "D"}
    assert all(e.context and e.options and len(e.options) == 4 and all(e.options) for e in examples)
    labelled = [o for e in examples for o in e.options if re.match(r"[A-D]\.", o)]
    assert len(labelled) < 10  # option labels are stripped (a few texts legitimately start like "C.S City")


def test_limits_on_real_files(shared_datasets: Path) -> None:
    cfg = DatasetConfig(
        name="gsm8k", source="local", path=str(shared_datasets / "gsm8k"), train_limit=5, test_limit=3
    )
    assert [e.id for e in load_examples(cfg, "train").examples] == [f"gsm8k-train-{i}" for i in range(5)]
    assert len(load_examples(cfg, "test").examples) == 3
