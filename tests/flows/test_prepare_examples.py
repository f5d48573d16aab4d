"""prepare-examples: every skipped row in the round manifest, one log line, bad datasets not retried."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prefect.states import Failed

from fair_core.config import DatasetConfig
from fair_core.datasets import DatasetError, DatasetUnavailable
from fair_core.refs import RoundRef
from tasks.inference import prepare_examples, retry_unless_config_error


def _row(i: int, question: str | None = None) -> bytes:
    return json.dumps({"question": question or f"What is {i} + 1?", "answer": f"#### {i + 1}"}).encode()


@pytest.fixture
def gsm_dir(tmp_path: Path) -> Path:
    lines = [_row(0)]
    lines += [b"{not json"] * 6  # lines 2-7
    lines += [_row(7).replace(b"What", b"Wh\xffat")]  # line 8
    lines += [_row(8, "Why? " + "y" * 40_000)]  # line 9: over max_input_tokens
    lines += [json.dumps({"question": "Q", "answer": "no final"}).encode()]  # line 10
    lines += [_row(10)]
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    (folder / "train.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (folder / "test.jsonl").write_bytes(_row(0) + b"\n")
    return folder


def test_every_skipped_row_is_in_the_manifest(
    tmp_path: Path, gsm_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    where = RoundRef(str(tmp_path / "data"), "run", 0)
    cfg = DatasetConfig(name="gsm8k", source="local", path=str(gsm_dir))
    with caplog.at_level(logging.INFO):
        table = prepare_examples.fn(cfg, "train", where, "examples")
        prepare_examples.fn(cfg, "test", where, "test_examples")
    assert [r["id"] for r in table.rows()] == ["gsm8k-train-0", "gsm8k-train-10"]
    manifest = where.store().manifest()
    skipped = manifest["skipped_rows"]["examples"]
    assert skipped["split"] == "train" and skipped["count"] == 9
    ids = [row["id"] for row in skipped["rows"]]
    assert ids == [f"line {n}" for n in range(2, 9)] + ["gsm8k-train-8", "gsm8k-train-9"]
    reasons = {row["id"]: row["reason"] for row in skipped["rows"]}
    assert reasons["line 8"].startswith("not UTF-8: train.jsonl line 8: byte 0xff")
    assert reasons["gsm8k-train-8"].startswith("too long: ")
    assert manifest["skipped_rows"].get("test_examples") is None  # nothing skipped there
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings  # once, not by the loader and the task both
    assert "skipped 9 of 11 rows read" in warnings[0] and "line 2, line 3" in warnings[0]
    assert "manifest.json under skipped_rows.examples" in warnings[0]


def test_a_fixed_dataset_clears_the_old_list(tmp_path: Path, gsm_dir: Path) -> None:
    where = RoundRef(str(tmp_path / "data"), "run", 0)
    cfg = DatasetConfig(name="gsm8k", source="local", path=str(gsm_dir))
    prepare_examples.fn(cfg, "train", where, "examples")
    (gsm_dir / "train.jsonl").write_bytes(_row(0) + b"\n")
    prepare_examples.fn(cfg, "train", where, "examples")
    assert where.store().manifest()["skipped_rows"]["examples"] == {"split": "train", "count": 0, "rows": []}


def test_truncated_rows_are_listed_too(tmp_path: Path, gsm_dir: Path) -> None:
    where = RoundRef(str(tmp_path / "data"), "run", 0)
    cfg = DatasetConfig(name="gsm8k", source="local", path=str(gsm_dir), too_long="truncate")
    prepare_examples.fn(cfg, "train", where, "examples")
    truncated = where.store().manifest()["truncated_rows"]["examples"]
    assert truncated["count"] == 1 and truncated["rows"][0]["id"] == "gsm8k-train-8"


def test_no_valid_rows_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("{bad\n{worse\n")
    cfg = DatasetConfig(name="gsm8k", source="local", path=str(tmp_path))
    with pytest.raises(DatasetError, match=r"train\.jsonl\): no valid rows \(skipped 2 of 2 rows read"):
        prepare_examples.fn(cfg, "train", RoundRef(str(tmp_path / "data"), "run", 0), "examples")


def test_a_bad_dataset_is_not_retried() -> None:
    assert retry_unless_config_error(None, None, Failed(data=DatasetError("no such file"))) is False
    assert retry_unless_config_error(None, None, Failed(data=DatasetUnavailable("Hub down"))) is True
    assert retry_unless_config_error(None, None, Failed(data=OSError("disk"))) is True
