"""Tables checked against the manifest: a lost, truncated or edited table is named, never read as empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.refs import RoundRef
from fair_core.report.summary import round_summary
from fair_core.store import RunStore, StoreError
from fair_core.store.integrity import folder_files, model_problem, table_problem

MISTAKE = {"example_id": "e1", "student_completion": "It is 4.", "student_prediction": "4", "gold": "5"}


def test_a_truncated_table_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(0)
    path = store.write("mistakes", [MISTAKE]).path
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StoreError, match=r"mistakes of run r round 0: .*mistakes\.parquet is not a readable"):
        store.rows("mistakes")
    with pytest.raises(StoreError, match=r"not a readable Parquet file .*fair resume r --data-dir"):
        RoundRef(str(tmp_path), "r", 0).table("mistakes").rows()


def test_a_lost_or_edited_table_is_named_and_never_counted_as_empty(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(0)
    assert store.rows_if_present("mistakes") == []  # never written: legitimately absent
    path = store.write("mistakes", [MISTAKE, {**MISTAKE, "example_id": "e2"}]).path
    assert table_problem(store, "mistakes") is None
    store.write("teacher_calls", [{"example_id": "e1", "teacher": "a", "status": "ok"}], part="a")

    original = path.read_bytes()
    path.unlink()
    assert "is missing" in str(table_problem(store, "mistakes"))
    with pytest.raises(StoreError, match=r"table mistakes of run r round 0: .* is missing.*fair resume r"):
        store.rows_if_present("mistakes")
    with pytest.raises(StoreError, match="table mistakes of run r round 0 is missing"):
        RoundRef(str(tmp_path), "r", 0).table("mistakes").fingerprint()  # not a FileNotFoundError
    with pytest.raises(StoreError, match="table mistakes"):
        round_summary(store, ["a"])  # the summary does not say "mistakes 0"

    path.write_bytes(original)
    assert len(store.rows_if_present("mistakes")) == 2
    assert round_summary(store, ["a"])["mistakes"] == 2
    store.write("mistakes", [MISTAKE])  # a rewrite through the store is recorded: fine again
    other = RunStore(tmp_path, "r").round(1)
    other.write("mistakes", [MISTAKE, MISTAKE, MISTAKE])
    path.write_bytes(other.table_path("mistakes").read_bytes())  # edited behind the store's back
    assert "3 rows, the manifest records 1" in str(table_problem(store, "mistakes"))
    with pytest.raises(StoreError, match="has changed since it was written"):
        RoundRef(str(tmp_path), "r", 0).table("mistakes").rows()

    (store.path / "teacher_calls" / "a.parquet").unlink()  # one part of a partitioned table
    with pytest.raises(StoreError, match="table teacher_calls/a of run r round 0"):
        store.rows_if_present("teacher_calls")


def test_the_trained_model_is_checked_against_its_recorded_files(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r").round(0)
    model = store.path / "student" / "model"
    model.mkdir(parents=True)
    (model / "adapter_model.safetensors").write_bytes(b"w" * 64)
    (model / "adapter_config.json").write_text("{}")
    assert model_problem(store) is None  # nothing recorded
    record = {"trained": True, "model": {"path": "student/model", "files": folder_files(model)}}
    store.record_stage("fine-tune", inputs={}, outputs=["student/model"], extra=record)
    assert model_problem(store) is None
    (model / "adapter_model.safetensors").write_bytes(b"w" * 10)
    assert "has 10 bytes, not 64" in str(model_problem(store))
    (model / "adapter_model.safetensors").unlink()
    assert "adapter_model.safetensors is missing" in str(model_problem(store))
    store.record_stage("fine-tune", inputs={}, outputs=[], extra={"trained": False})
    assert model_problem(store) is None  # the round trained nothing: no model expected
