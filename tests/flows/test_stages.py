"""Each stage of a round run alone (as its deployment does), then the round reusing them; teacher shards;
the round's completion event; a provider outage drill."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fair_core.config import ConfigError
from fair_core.runs import next_round, stored_config
from fair_core.store import RunStore
from fair_core.teachers.caller import TeacherBatchIncomplete
from flows.deployed import evaluation, student_inference, teacher_committee, training
from flows.pipeline import results_dir, run_pipeline
from flows.round import fair_round
from flows.simulation import simulated_teachers
from tasks.events import CHAIN_LABEL, emit_round_completed, run_resource


def test_stages_alone_then_the_round_reuses_every_one(tiny_config, torch_single_thread) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config()
    storage = results_dir(config)
    inferred = student_inference.with_options(result_storage=storage)(config, 0)
    assert inferred["examples"] == 6 and inferred["mistakes"] > 0
    with pytest.raises(ConfigError, match="run the teacher-committee stage of this round first"):
        training.with_options(result_storage=storage)(config, 0)

    with simulated_teachers(config) as (served, simulator):
        committee = teacher_committee.with_options(result_storage=storage)(served, 0)
        asked = simulator.stats["requests"]
    assert committee["rationales"] == 3 * inferred["mistakes"] and asked > 0
    model = Path(training.with_options(result_storage=storage)(config, 0))
    assert (model / "adapter_config.json").is_file()
    accuracy = evaluation.with_options(result_storage=storage)(config, 0)
    assert stored_config(config.run.data_dir, config.run_id()) == config
    assert next_round(config) == 0  # stages alone do not finish the round: no summary yet

    with simulated_teachers(config) as (served, simulator):
        result = fair_round.with_options(result_storage=storage)(served, 0)
        assert simulator.stats["requests"] == 0  # every teacher task came from the stages' results
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    assert store.manifest()["starts"] == {"fine-tune": 1}  # trained once, by the training stage
    assert result.student.adapter == str(model)
    assert result.summary["test_accuracy_after"] == accuracy
    assert next_round(config) is None


def test_teacher_tasks_split_by_teacher_role_and_shard(tiny_config, torch_single_thread) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(run={"teacher_task_size": 2})
    storage = results_dir(config)
    mistakes = student_inference.with_options(result_storage=storage)(config, 0)["mistakes"]
    with simulated_teachers(config) as (served, _):
        teacher_committee.with_options(result_storage=storage)(served, 0)
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    parts = sorted(p.stem for p in (store.path / "teacher_calls").glob("*.parquet"))
    shards = math.ceil(mistakes / 2)
    feedback = [p for p in parts if p.startswith("feedback-gpt-shard-")]
    assert feedback == [f"feedback-gpt-shard-{i:03d}-of-{shards:03d}" for i in range(1, shards + 1)]
    rows = [r for p in feedback for r in store.rows("teacher_calls", p)]
    assert len(rows) == mistakes and len({r["example_id"] for r in rows}) == mistakes
    assert len(store.rows("feedback")) == 3 * mistakes


def test_a_round_refuses_a_simulated_config_that_is_not_served(tiny_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="serve the simulated teachers"):
        fair_round(tiny_config(), 0)


def test_round_completed_event_asks_for_the_next_round_only_when_chained(tiny_config) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(run={"rounds": 2})
    assert run_resource(config, 0, True)[CHAIN_LABEL] == "next"
    assert run_resource(config, 1, False)[CHAIN_LABEL] == "stop"
    assert run_resource(config, 0, True)["fair.run-id"] == config.run_id()
    assert emit_round_completed(config, 0, {"test_accuracy_after": 0.5}, chain=True) is not None


def test_an_outage_fails_the_run_and_a_rerun_buys_nothing_twice(tiny_config, torch_single_thread) -> None:  # type: ignore[no-untyped-def]
    teachers = [
        {"name": n, "model": n, "max_retries": 0, "price_input_per_mtok": 1.0, "price_output_per_mtok": 1.0}
        for n in ("gpt", "gem", "mix")
    ]
    quick_retries = {"teacher_task_retries": 1, "teacher_task_retry_delay_s": 0.2}
    config = tiny_config(teachers=teachers, simulator={"fail_teacher": "gem"}, run=quick_retries)
    with pytest.raises(TeacherBatchIncomplete, match="teacher 'gem'"):
        run_pipeline(config)  # each attempt serves the simulator once: the drill fails the first
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    assert "starts" not in store.manifest()
    run_pipeline(config)  # the second attempt: the simulator answers gem again
    calls = store.rows("teacher_calls")
    paid = [c["request_key"] for c in calls if c["cost_usd"] > 0]
    # each request paid once over both attempts (a question asked twice is paid once, then cached)
    assert len(paid) == len(set(paid)) and set(paid) == {c["request_key"] for c in calls}
    assert store.manifest()["starts"] == {"fine-tune": 1}
