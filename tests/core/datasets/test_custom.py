"""Custom datasets: each file format, the column mapping, each answer kind, a user checker, bad rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fair_core.answers import is_correct
from fair_core.config import ConfigError, DatasetConfig
from fair_core.config.loading import load_config
from fair_core.datasets import load_examples
from fair_core.datasets.preflight import check_dataset
from fair_core.prompts.builder import PromptSet

REPO = Path(__file__).resolve().parents[3]
ROWS = [
    {"key": "q1", "part": "train", "q": "Capital of France?", "gold": "Paris", "why": "It is Paris."},
    {"key": "q2", "part": "train", "q": "Opposite of hot?", "gold": "cold", "why": None},
    {"key": "q3", "part": "test", "q": "Capital of Italy?", "gold": "Rome", "why": "Rome."},
]
COLUMNS = {"id": "key", "question": "q", "answer": "gold", "solution": "why"}


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def dataset(**custom: Any) -> Any:
    return DatasetConfig.model_validate({"name": "custom", "custom": {"columns": COLUMNS, **custom}})


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_each_format_maps_columns_and_splits(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"qa{suffix}", ROWS)
    cfg = dataset(path=str(path), split_column="part")
    check_dataset(cfg)
    train = load_examples(cfg, "train").examples
    test = load_examples(cfg, "test").examples
    assert [e.id for e in train] == ["q1", "q2"] and [e.id for e in test] == ["q3"]
    first = train[0]
    assert (first.question, first.answer, first.solution, first.kind) == (
        "Capital of France?",
        "Paris",
        "It is Paris.",
        "exact",
    )
    assert first.dataset == "custom/custom" and train[1].solution is None


def test_split_files_in_a_folder_and_the_splits_mapping(tmp_path: Path) -> None:
    write(tmp_path / "train.jsonl", ROWS[:2])
    write(tmp_path / "dev.csv", ROWS[2:])
    cfg = dataset(path=str(tmp_path), splits={"test": "dev.csv"})
    check_dataset(cfg)
    assert [e.id for e in load_examples(cfg, "test").examples] == ["q3"]
    assert len(load_examples(cfg, "train").examples) == 2
    missing = dataset(path=str(tmp_path), splits={"test": "nope.csv"})
    with pytest.raises(ConfigError, match=r"nope\.csv"):
        check_dataset(missing)


def test_the_shipped_sample_skips_its_malformed_row_by_id(caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(REPO / "data/examples/custom.yaml").dataset
    cfg = cfg.model_copy(
        update={"custom": cfg.custom.model_copy(update={"path": str(REPO / "data/examples/tiny_qa.jsonl")})}
    )
    check_dataset(cfg)
    result = load_examples(cfg, "train")
    assert [s.row_id for s in result.skipped] == ["broken-row"]
    assert "missing answer" in result.skipped[0].reason
    assert "broken-row" in caplog.text
    assert len(result.examples) == 7 and len(load_examples(cfg, "test").examples) == 4


def test_numeric_boolean_and_a_bad_gold(tmp_path: Path) -> None:
    rows = [{"key": "a", "q": "2+2?", "gold": "4"}, {"key": "b", "q": "3+3?", "gold": "six"}]
    path = write(tmp_path / "train.jsonl", rows)
    cfg = dataset(path=str(path), answer_kind="numeric")
    result = load_examples(cfg, "train")
    assert [e.answer for e in result.examples] == ["4"] and [s.row_id for s in result.skipped] == ["b"]
    assert is_correct("2 and 2 make 4. The answer is 4.", "4", "numeric")[1]
    path = write(tmp_path / "train.jsonl", [{"key": "c", "q": "Is ice cold?", "gold": "yes"}])
    (example,) = load_examples(dataset(path=str(path), answer_kind="boolean"), "train").examples
    assert example.kind == "boolean" and is_correct("True. Ice is cold.", example.answer, "boolean")[1]


def test_choice_with_arc_style_nested_options_and_labels(tmp_path: Path) -> None:
    rows = [
        {
            "id": "arc1",
            "question": "Which is a mammal?",
            "choices": {"text": ["Shark", "Whale"], "label": ["1", "2"]},
            "answerKey": "2",
        },
        {
            "id": "arc2",
            "question": "Which is warm?",
            "choices": {"text": ["Sun", "Ice"], "label": ["A", "B"]},
            "answerKey": "A",
        },
        {
            "id": "arc3",
            "question": "Which?",
            "choices": {"text": ["x", "y"], "label": ["A", "B"]},
            "answerKey": "E",
        },
    ]
    path = write(tmp_path / "train.jsonl", rows)
    columns = {"question": "question", "answer": "answerKey", "options": "choices", "id": "id"}
    custom = {"path": str(path), "columns": columns, "answer_kind": "choice"}
    cfg = DatasetConfig.model_validate({"name": "custom", "custom": custom})
    result = load_examples(cfg, "train")
    assert [(e.answer, e.options) for e in result.examples] == [
        ("B", ("Shark", "Whale")),
        ("A", ("Sun", "Ice")),
    ]
    assert [s.row_id for s in result.skipped] == ["arc3"]
    example = result.examples[0]
    assert "B. Whale" in PromptSet().student(example)
    assert is_correct("The answer is B.", example.answer, "choice", example.options)[1]


def test_exact_and_math_kinds_check_replies() -> None:
    assert is_correct("Thinking... The answer is the Moon.", "moon", "exact") == ("moon", True)
    assert not is_correct("The answer is Mars.", "moon", "exact")[1]
    assert is_correct("So we get \\boxed{\\frac{1}{2}}.", "0.5", "math")[1]
    assert is_correct("The answer is 2x + 2", "2(x+1)", "math")[1]
    assert not is_correct("The answer is x + 2", "2(x+1)", "math")[1]


def test_a_user_checker_is_called_and_checked_up_front(tmp_path: Path) -> None:
    path = write(tmp_path / "train.jsonl", [{"key": "k", "q": "Name two primes.", "gold": "2, 3"}])
    spec = "tests.core.datasets.custom_checker:same_items"
    cfg = dataset(path=str(path), answer_kind="checker", checker=spec, splits={"test": "train.jsonl"})
    check_dataset(cfg)
    (example,) = load_examples(cfg, "train").examples
    assert example.kind == f"checker:{spec}"
    assert is_correct("The answer is 3 and 2.", example.answer, example.kind)[1]
    assert not is_correct("The answer is 2 and 5.", example.answer, example.kind)[1]
    assert "Name two primes." in PromptSet().student(example)  # the exact templates
    bad = dataset(
        path=str(path), answer_kind="checker", checker="tests.nowhere:f", splits={"test": "train.jsonl"}
    )
    with pytest.raises(ConfigError, match=r"tests\.nowhere:f"):
        check_dataset(bad)
    with pytest.raises(ConfigError, match="checker"):
        check_dataset(dataset(path=str(path), answer_kind="checker", splits={"test": "train.jsonl"}))


def test_a_missing_section_or_both_sources_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        check_dataset(DatasetConfig.model_validate({"name": "custom"}))
    with pytest.raises(ConfigError, match="exactly one"):
        check_dataset(dataset(path=str(tmp_path), hub_id="allenai/ai2_arc"))


def test_a_hub_dataset_with_arc_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from fair_core.datasets import custom as custom_module

    asked: list[tuple[str, str | None, str]] = []

    def fake_hub(hub_id: str, config: str | None, split: str) -> list[dict[str, Any]]:  # the network boundary
        asked.append((hub_id, config, split))
        choices = {"text": ["dry palms", "wet palms"], "label": ["A", "B"]}
        return [{"id": "Mercury_1", "question": "Which heats faster?", "choices": choices, "answerKey": "A"}]

    monkeypatch.setattr(custom_module, "_load_hub_split", fake_hub)
    columns = {"id": "id", "question": "question", "options": "choices", "answer": "answerKey"}
    custom = {
        "hub_id": "allenai/ai2_arc",
        "hub_config": "ARC-Challenge",
        "splits": {"test": "validation"},
        "columns": columns,
        "answer_kind": "choice",
    }
    cfg = DatasetConfig.model_validate({"name": "custom", "custom": custom})
    check_dataset(cfg)  # nothing downloaded
    (example,) = load_examples(cfg, "test").examples
    assert asked == [("allenai/ai2_arc", "ARC-Challenge", "validation")]
    assert (example.id, example.answer, example.options) == ("Mercury_1", "A", ("dry palms", "wet palms"))


def test_exact_keeps_decimal_points() -> None:
    assert is_correct("Answer: 3.5 km", "3.5 km", "exact")[1]
    assert not is_correct("The answer is 35.", "3.5", "exact")[1]
