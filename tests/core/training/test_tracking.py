"""Experiment tracking: training.report_to checked and kept out of the run id, a tiny training logged to real
TensorBoard event files with each task's loss, and the round's metrics logged to the same run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import ConfigError, TrainingConfig, parse_config
from fair_core.config.training import REPORT_BACKENDS
from fair_core.report.summary import round_summary
from fair_core.training.arguments import TRACKER_PACKAGES, check_report_to
from fair_core.training.tracking import round_metrics, round_target, target_for, track_round
from fair_core.training.trainer import train_student
from tests.core.report_store import TEACHERS, build_run
from tests.core.training.test_trainer import SAMPLES

TWO_TEACHERS = [{"name": "a", "model": "m1"}, {"name": "b", "model": "m2"}]


def _events(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def _scalars(events: Any, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in events.Scalars(tag)]


def _same(logged: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    steps = [s for s, _ in logged] == [s for s, _ in expected]
    return steps and [v for _, v in logged] == pytest.approx([v for _, v in expected], rel=1e-5)


def test_backends_are_transformers_integrations() -> None:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    assert sorted(REPORT_BACKENDS) == sorted(INTEGRATION_TO_CALLBACK)
    assert set(TRACKER_PACKAGES) == set(REPORT_BACKENDS)


def test_unknown_backend_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"teachers": TWO_TEACHERS, "training": {"report_to": ["tensorboard", "tensorbord"]}})
    message = str(caught.value)
    assert "\n" not in message and "training.report_to" in message
    assert "'tensorbord'" in message and "tensorboard, trackio, wandb" in message
    # a bare name or transformers' "none" work as in transformers
    one = parse_config({"teachers": TWO_TEACHERS, "training": {"report_to": "tensorboard"}})
    assert one.training.report_to == ["tensorboard"]
    assert (
        parse_config({"teachers": TWO_TEACHERS, "training": {"report_to": "none"}}).training.report_to == []
    )


def test_report_to_keeps_the_run_id() -> None:
    plain = parse_config({"teachers": TWO_TEACHERS})
    tracked = parse_config({"teachers": TWO_TEACHERS, "training": {"report_to": ["tensorboard", "mlflow"]}})
    assert plain.training.report_to == [] and tracked.run_id() == plain.run_id()
    assert tracked.config_hash() == plain.config_hash()


def test_a_missing_tracker_package_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    absent = [b for b in ("mlflow", "wandb", "trackio", "comet_ml") if importlib.util.find_spec(b) is None]
    if not absent:
        pytest.skip("every candidate tracker is installed here")
    backend = absent[0]
    cfg = TrainingConfig(report_to=["tensorboard", backend])
    expected = f"training.report_to: {backend} needs the {backend} package (pip install "
    with pytest.raises(ValueError, match=expected.replace("(", r"\(")) as caught:
        check_report_to(cfg)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=f"{backend} needs the {backend} package"):
        train_student(SAMPLES, tiny_model_dir, tmp_path / "out", cfg)  # before the model is loaded
    assert not (tmp_path / "out" / "model").exists()
    check_report_to(TrainingConfig(report_to=["tensorboard"]))  # installed: the dev extra `tracking`


def test_tracker_runs_live_under_the_run_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "svamp-abc123"
    target = target_for(run_dir / "round=2" / "student")
    assert target == round_target(run_dir, 2)
    assert target.log_dir == run_dir / "tracking" / "round=2" and target.run_name == "svamp-abc123 round 2"
    other = target_for(tmp_path / "out")
    assert other.log_dir == tmp_path / "out" / "tracking" and other.run_name == "out"


def test_round_metrics_are_the_summary_numbers() -> None:
    summary = {"round": 1, "student": "m", "test_accuracy_after": 0.5, "test_n_after": 2, "dataset": "x"}
    summary |= {"acceptance_gpt": None, "rationale_samples": 3, "feedback_samples": 2, "ok": True}
    assert round_metrics(summary) == {
        "fair/feedback_samples": 2.0,
        "fair/rationale_samples": 3.0,
        "fair/test_accuracy_after": 0.5,
        "fair/test_n_after": 2.0,
        "fair/training_samples": 5.0,
    }
    warnings: list[str] = []
    assert track_round([], Path("nowhere"), 1, summary, warnings.append) == []
    assert not warnings


@pytest.mark.slow
@pytest.mark.usefixtures("torch_single_thread")
def test_tensorboard_gets_training_and_round_metrics(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = build_run(tmp_path)  # round 0 finished (accuracy, acceptance, cost); round 1 trains here
    cfg = TrainingConfig(
        learning_rate=1e-2, epochs=3, batch_size=2, grad_accum=1, save_steps=1000, report_to=["tensorboard"]
    )
    result = train_student(SAMPLES, tiny_model_dir, run.round(1).path / "student", cfg)
    folder = run.root / "tracking" / "round=1"
    events = _events(folder)
    assert (
        [s for s, _ in _scalars(events, "train/loss")] == [s for s, _ in result.losses] == [1, 2, 3, 4, 5, 6]
    )
    assert _same(_scalars(events, "train/loss"), result.losses)
    # each task's own loss, logged by the trainer, reaches the tracker and the training record
    assert _same(_scalars(events, "train/loss_rationale"), result.rationale_losses)
    assert _same(_scalars(events, "train/loss_feedback"), result.feedback_losses)
    assert result.rationale_losses and result.feedback_losses
    assert [round(e) for _, e in result.epochs if e == round(e)] == [1, 2, 3]
    assert not list((run.round(1).path / "student").rglob("events.out.tfevents*"))  # not under checkpoints

    summary = round_summary(run.round(0), TEACHERS)
    warnings: list[str] = []
    written = track_round(["tensorboard", "wandb"], run.root, 1, summary, warnings.append)
    assert written == ["tensorboard"] and warnings == [
        "training.report_to: wandb gets transformers' training metrics only, not the round's"
    ]
    events = _events(folder)  # the same folder: one TensorBoard run per round
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "fair/test_accuracy_after", "fair/cost_usd", "fair/acceptance_gpt"} <= tags
    assert _scalars(events, "fair/test_accuracy_after") == [(1, 0.5)]
    assert _scalars(events, "fair/test_n_after") == [(1, 2.0)]
    assert _scalars(events, "fair/rationales_accepted") == [(1, 2.0)]
    assert _scalars(events, "fair/acceptance_gpt") == [(1, 1.0)]
    assert _same(_scalars(events, "fair/cost_usd"), [(1, 0.75)])
