"""A lost or damaged table is never reused: the stage that wrote it runs again and the numbers are true."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from fair_core.config import ConfigError
from fair_core.refs import RoundRef
from fair_core.report.summary import round_summary
from fair_core.store import RunStore, StoreError
from flows.pipeline import run_pipeline
from flows.round import stage_table


def test_a_deleted_or_truncated_table_is_rebuilt_and_counted_right(tiny_config, torch_single_thread) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config()
    first = run_pipeline(config)
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    mistakes = store.table_path("mistakes")
    truth = first.summaries[0]["mistakes"]
    recorded = store.manifest()["tables"]["mistakes"]
    assert truth > 0 and recorded["rows"] == truth

    mistakes.unlink()  # (a) lost
    again = run_pipeline(config)
    assert again.summaries[0]["mistakes"] == truth
    assert store.manifest()["summary"]["mistakes"] == truth
    assert len(store.rows("mistakes")) == truth
    assert store.manifest()["tables"]["mistakes"] == recorded
    assert again.simulator_requests == 0  # the downstream stages were reused, nothing paid twice

    mistakes.write_bytes(mistakes.read_bytes()[:40])  # (b) truncated
    third = run_pipeline(config)
    assert third.summaries[0]["mistakes"] == truth
    assert pq.read_table(mistakes).num_rows == truth
    assert store.manifest()["tables"]["mistakes"] == recorded
    assert store.manifest()["starts"] == {"fine-tune": 1}  # the student was trained once

    model = store.path / "student" / "model"
    for file in model.glob("adapter_model*"):
        file.unlink()  # the trained student's weights are lost: the fine-tune stage runs again
    run_pipeline(config)
    assert store.manifest()["starts"] == {"fine-tune": 2}
    assert any(model.glob("adapter_model*"))

    mistakes.unlink()  # (c) a summary, or a stage run alone, never counts a lost table as empty
    with pytest.raises(StoreError, match=r"table mistakes of run .* round 0: its file .* is missing"):
        round_summary(store, [t.name for t in config.teachers])
    with pytest.raises(ConfigError, match="run the student-inference stage of this round again"):
        stage_table(RoundRef(config.run.data_dir, config.run_id(), 0), "mistakes")
