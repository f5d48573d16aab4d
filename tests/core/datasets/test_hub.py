"""Hub source without network: `_load_hub_split` (this package's boundary) is replaced by canned rows."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from fair_core.config import DatasetConfig
from fair_core.datasets import DatasetError, hub, load_examples

Rows = list[Any]


def _fake(monkeypatch: pytest.MonkeyPatch, rows: Rows) -> list[tuple[str, str | None, str]]:
    calls: list[tuple[str, str | None, str]] = []

    def load(hub_id: str, config: str | None, split: str) -> Iterable[Mapping[str, Any]]:
        calls.append((hub_id, config, split))
        return rows

    monkeypatch.setattr(hub, "_load_hub_split", load)
    return calls


def test_gsm8k_from_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(
        monkeypatch,
        [
            {"question": "Q0?", "answer": "2 * 3 = <<2*3=6>>6\n#### 6"},
            {"question": "Q1?", "answer": "no final answer"},
            {"question": "Q2?", "answer": "So 1,000 + 1 = 1,001\n#### 1,001"},
        ],
    )
    result = load_examples(DatasetConfig(name="gsm8k"), "test")
    assert calls == [("openai/gsm8k", "main", "test")]
    assert [(e.id, e.answer, e.solution) for e in result.examples] == [
        ("gsm8k-test-0", "6", "2 * 3 = 6"),
        ("gsm8k-test-2", "1001", "So 1,000 + 1 = 1,001"),
    ]
    assert [s.row_id for s in result.skipped] == ["gsm8k-test-1"]


def test_hub_id_override_and_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"qid": f"q{i}", "question": f"Q{i}?", "answer": bool(i % 2), "facts": ["F."]} for i in range(5)]
    calls = _fake(monkeypatch, rows)
    cfg = DatasetConfig(name="strategyqa", hub_id="me/strategyqa-copy", test_limit=2)
    result = load_examples(cfg, "test")
    assert calls == [("me/strategyqa-copy", None, "test")]
    assert [(e.id, e.answer, e.solution) for e in result.examples] == [
        ("q0", "false", "F."),
        ("q1", "true", "F."),
    ]


def test_svamp_and_logiqa_from_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake(
        monkeypatch,
        [
            {
                "ID": "chal-7",
                "Body": "B.",
                "Question": "Q?",
                "question_concat": "B. Q?",
                "Equation": "( 1.0 + 1.0 )",
                "Answer": 2.0,
                "Type": "Addition",
            },
            "not a row",
        ],
    )
    result = load_examples(DatasetConfig(name="svamp"), "train")
    assert calls[-1] == ("ChilleD/SVAMP", None, "train")
    assert [(e.id, e.question, e.answer) for e in result.examples] == [("chal-7", "B. Q?", "2")]
    assert [s.row_id for s in result.skipped] == ["index 1"]

    calls = _fake(
        monkeypatch,
        [
            {"context": "C.", "query": "Q?", "options": ["a", "b", "c", "d"], "correct_option": 2},
            {"context": "C.", "query": "Q?", "options": ["a", "b"], "correct_option": 0},
        ],
    )
    result = load_examples(DatasetConfig(name="logiqa"), "validation")
    assert calls[-1] == ("lucasmccabe/logiqa", None, "validation")
    assert [(e.id, e.answer, e.options) for e in result.examples] == [
        ("logiqa-validation-0", "C", tuple("abcd"))
    ]
    assert result.skipped[0].row_id == "logiqa-validation-1"
    assert result.skipped[0].reason.startswith("wrong option count")


def test_hub_failure_is_a_dataset_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(hub_id: str, config: str | None, split: str) -> Rows:
        raise ConnectionError("no network")

    monkeypatch.setattr(hub, "_load_hub_split", offline)
    with pytest.raises(DatasetError) as err:
        load_examples(DatasetConfig(name="gsm8k"), "train")
    message = str(err.value)
    assert "gsm8k" in message and "openai/gsm8k" in message and "'train'" in message
    assert "ConnectionError: no network" in message and "source: local" in message


def test_script_dataset_falls_back_to_parquet_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `datasets` module (public `load_dataset` only): script repos read refs/convert/parquet."""
    seen: list[dict[str, Any]] = []

    def load_dataset(path: str, name: str | None = None, **kw: Any) -> Rows:
        seen.append({"path": path, "name": name, **kw})
        if kw.get("revision") is None:
            raise RuntimeError("Dataset scripts are no longer supported, but found logiqa.py")
        return [{"context": "C.", "query": "Q?", "options": ["a", "b", "c", "d"], "correct_option": "1"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    result = load_examples(DatasetConfig(name="logiqa"), "test")
    assert [e.answer for e in result.examples] == ["B"]
    assert seen[-1]["revision"] == "refs/convert/parquet" and seen[-1]["split"] == "test"


def test_import_is_light() -> None:
    """Importing the package imports neither `datasets`, reasoning-gym nor Prefect (they load lazily)."""
    code = (
        "import sys, fair_core.datasets as d, fair_core.datasets.hub, fair_core.datasets.gym;"
        "heavy = [m for m in ('datasets', 'reasoning_gym', 'prefect') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
