"""The Parquet store: declared schemas, atomic writes, partitioned tables and the round manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fair_core.hashing import file_hash
from fair_core.store import RunStore, StoreError
from fair_core.store.schemas import TABLES

MISTAKE = {"example_id": "e1", "student_completion": "It is 4.", "student_prediction": "4", "gold": "5"}


def test_write_read_round_trip_with_declared_schema(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "run-a").round(2)
    info = store.write("mistakes", [MISTAKE, {**MISTAKE, "example_id": "e2", "student_prediction": None}])
    assert info.path == tmp_path / "runs" / "run-a" / "round=2" / "mistakes.parquet"
    assert info.rows == 2 and info.sha256 == file_hash(info.path)
    table = pq.read_table(info.path)
    assert table.schema.equals(TABLES["mistakes"])
    assert pq.ParquetFile(info.path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert store.rows("mistakes")[1] == {**MISTAKE, "example_id": "e2", "student_prediction": None}


def test_rows_that_break_the_schema_are_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(0)
    with pytest.raises(StoreError, match="mistakes"):
        store.write("mistakes", [{**MISTAKE, "example_id": 12.5}])
    with pytest.raises(StoreError, match="unknown table"):
        store.write("nonsense", [])
    assert not store.exists("mistakes")
    assert not list(store.path.glob("*.tmp"))


def test_partitioned_table_reads_all_parts(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(0)
    row = {"example_id": "e1", "teacher": "a", "status": "ok", "text": "t"}
    store.write("feedback", [row], part="a")
    store.write("feedback", [{**row, "teacher": "b"}], part="b")
    assert [r["teacher"] for r in store.rows("feedback")] == ["a", "b"]
    assert store.rows("feedback", part="b")[0]["teacher"] == "b"
    assert store.exists("feedback")
    before = store.content_hash("feedback")
    store.write("feedback", [{**row, "teacher": "b", "text": "changed"}], part="b")
    assert store.content_hash("feedback") != before


def test_missing_table_says_where(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(1)
    with pytest.raises(StoreError, match="round 1"):
        store.read("reviews")


def test_manifest_records_tables_stages_and_meta(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(0)
    store.set_meta(config_hash="abc")
    info = store.write("mistakes", [MISTAKE])
    store.record_stage("mistakes", inputs={"student_outputs": "123"}, outputs=["mistakes"])
    manifest = json.loads((store.path / "manifest.json").read_text())
    assert manifest["config_hash"] == "abc"
    assert manifest["tables"]["mistakes"] == {"rows": 1, "sha256": info.sha256, "file": "mistakes.parquet"}
    assert manifest["stages"]["mistakes"]["inputs"] == {"student_outputs": "123"}
    assert manifest["code_version"].startswith("0.")
    assert manifest["run_id"] == "r" and manifest["round"] == 0


def test_rounds_are_listed(tmp_path: Path) -> None:
    run = RunStore(tmp_path, "r")
    for k in (0, 1, 10):
        run.round(k).write("mistakes", [MISTAKE])
    assert run.rounds() == [0, 1, 10]
