"""The shipped custom-dataset example (data/examples/custom.yaml) runs one round through the real pipeline."""

from __future__ import annotations

import json
from pathlib import Path

from fair_core.config.loading import load_config, parse_config
from fair_core.store import RunStore
from flows.pipeline import fair_pipeline
from flows.simulation import simulated_teachers

REPO = Path(__file__).resolve().parents[2]


def test_the_custom_example_runs_a_round_and_skips_its_bad_row(tmp_path: Path, tiny_model_dir: Path) -> None:
    shipped = load_config(REPO / "data/examples/custom.yaml").model_dump(mode="json", exclude_none=True)
    shipped["run"]["data_dir"] = str(tmp_path / "data")
    shipped["dataset"]["custom"]["path"] = str(REPO / "data/examples/tiny_qa.jsonl")
    shipped["student"].update(model=str(tiny_model_dir), max_new_tokens=8)
    config = parse_config(shipped)
    with simulated_teachers(config) as (effective, simulator):
        (summary,) = fair_pipeline(effective)
        assert simulator.stats["requests"] > 0
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    examples = store.rows("examples")
    ids = {row["id"] for row in examples}
    assert len(ids) == 7 and "broken-row" not in ids
    assert {row["kind"] for row in examples} == {"exact"}
    assert "broken-row" in json.dumps(store.manifest()["skipped_rows"])  # reported by id in the manifest
    assert store.exists("evaluation") and store.rows("training_samples")
    assert summary["round"] == 0
