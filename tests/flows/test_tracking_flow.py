"""training.report_to in a real round (tiny student, simulated committee): the round's TensorBoard run holds
the training curves and the round's summary numbers."""

from __future__ import annotations

import pytest

from fair_core.store import RunStore
from flows.pipeline import fair_pipeline
from flows.simulation import simulated_teachers


@pytest.mark.slow
def test_a_round_logs_training_and_its_summary_to_tensorboard(tiny_config) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config(training={"report_to": ["tensorboard"]})
    assert config.run_id() == tiny_config().run_id()  # tracking is not part of the run's identity
    with simulated_teachers(config) as (effective, _):
        [summary] = fair_pipeline(effective)
    run = RunStore(config.run.data_dir, config.run_id())
    events = EventAccumulator(str(run.root / "tracking" / "round=0"), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_rationale", "train/loss_feedback", "train/learning_rate"} <= tags
    [point] = events.Scalars("fair/test_accuracy_after")
    assert point.step == 0 and point.value == pytest.approx(summary["test_accuracy_after"])
    [point] = events.Scalars("fair/test_n_after")
    assert point.value == summary["test_n_after"] > 0
    [point] = events.Scalars("fair/training_samples")
    assert point.value == summary["rationale_samples"] + summary["feedback_samples"] > 0
    assert {f"fair/acceptance_{t.name}" for t in config.teachers} <= tags and "fair/cost_usd" in tags
