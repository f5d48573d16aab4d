"""A run on disk: stored config, the next round due, the student each round starts from; shard slices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fair_core.config import ConfigError, load_config, preset_path
from fair_core.refs import ModelRef
from fair_core.runs import model_at, next_round, round_student, stored_config, trained_student
from fair_core.shards import shard_bounds, shard_part, shard_slice
from fair_core.store import RunStore


@pytest.fixture()
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_config(preset_path("demo"), [f"run.data_dir={tmp_path}", "run.rounds=3"])


def test_stored_config_round_trips_and_names_what_is_missing(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"no stored config .*none"):
        stored_config(tmp_path, config.run_id())
    run = RunStore(tmp_path, config.run_id())
    run.save_config(config.model_dump(mode="json"))
    assert stored_config(tmp_path, config.run_id()) == config
    run.config_path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"config\.json: not valid JSON"):
        stored_config(tmp_path, config.run_id())


def test_next_round_is_the_first_without_a_summary(config) -> None:  # type: ignore[no-untyped-def]
    run = RunStore(config.run.data_dir, config.run_id())
    assert next_round(config) == 0
    run.round(0).set_meta(summary={"round": 0})
    run.round(2).set_meta(summary={"round": 2})
    assert next_round(config) == 1
    run.round(1).set_meta(summary={"round": 1})
    assert next_round(config) is None


def test_students_of_rounds(config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = ModelRef("/models/base", None, "base")
    assert round_student(config, 0, base) is base
    with pytest.raises(ConfigError, match=r"round 0 has no trained student .*training stage"):
        round_student(config, 1, base)
    adapter = RunStore(tmp_path, config.run_id()).round(0).path / "student" / "model"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    student = trained_student(config, 0, base)
    assert student.base == base.base and student.adapter == str(adapter.resolve())
    full = tmp_path / "full"
    full.mkdir()
    (full / "config.json").write_text("{}")
    assert model_at(full, base, "x") == ModelRef(str(full.resolve()), None, "x")
    with pytest.raises(ConfigError, match="neither a LoRA adapter nor a model folder"):
        model_at(tmp_path / "nothing", base, "x")


def test_shards_are_contiguous_and_cover_everything() -> None:
    items = list(range(10))
    slices = [shard_slice(items, i, 3) for i in range(3)]  # type: ignore[arg-type]
    assert [x for s in slices for x in s] == items and sorted(len(s) for s in slices) == [3, 3, 4]
    assert shard_part("feedback-gpt", 0, 1) == "feedback-gpt"
    assert shard_part("feedback-gpt", 1, 3) == "feedback-gpt-shard-002-of-003"
    assert shard_part(None, 0, 1) is None and shard_part(None, 2, 3) == "shard-003-of-003"
    assert shard_bounds(7, 3) == [(0, 2), (2, 4), (4, 7)] and shard_bounds(1, 3)[0] == (0, 0)
    with pytest.raises(ValueError, match="shard 3 of 3"):
        shard_slice(items, 3, 3)  # type: ignore[arg-type]
