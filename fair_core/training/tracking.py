"""Experiment tracking (training.report_to): where a round's tracker run lives, the trainer's tracker
callbacks pointed there, and the round's own metrics (accuracy, acceptance, cost) logged to the same run."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The run folder's tracking folder: one sub-folder per round (a TensorBoard run each).
TRACKING_DIR = "tracking"
#: Round metrics are logged as `fair/<summary key>` (TensorBoard tag, MLflow metric name).
PREFIX = "fair/"
#: Where the MLflow run a round's training opened is recorded, for the round metrics to join it.
MLFLOW_RUN_FILE = "mlflow_run.json"
#: Backends that get the round metrics too; the others get transformers' training metrics only.
ROUND_BACKENDS = ("tensorboard", "mlflow")

_ROUND_FOLDER = re.compile(r"round=(\d+)$")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingTarget:
    """A round's tracker run: its log folder (TensorBoard event files) and its run name (MLflow, W&B...)."""

    log_dir: Path
    run_name: str


def round_target(run_dir: Path, round_index: int) -> TrackingTarget:
    """`<run>/tracking/round=<k>/`, named "<run id> round <k>"."""
    run_dir = Path(run_dir)
    return TrackingTarget(
        run_dir / TRACKING_DIR / f"round={round_index}", f"{run_dir.name} round {round_index}"
    )


def target_for(output_dir: Path) -> TrackingTarget:
    """The tracker run of a training into `output_dir`: a round's training folder (`<run>/round=<k>/student`)
    gets `round_target`; any other folder `<output_dir>/tracking`, named after the folder."""
    output_dir = Path(output_dir).absolute()
    found = _ROUND_FOLDER.match(output_dir.parent.name)
    if found:
        return round_target(output_dir.parent.parent, int(found.group(1)))
    return TrackingTarget(output_dir / TRACKING_DIR, output_dir.name)


def attach_trackers(trainer: Any, target: TrackingTarget) -> None:
    """Point the trainer's TensorBoard callback at `target.log_dir` (transformers would pick
    `<output_dir>/runs/<date>`), and record the MLflow run it opens in `target.log_dir`."""
    from transformers import TrainerCallback
    from transformers.integrations import MLflowCallback, TensorBoardCallback

    callbacks = trainer.callback_handler.callbacks
    for callback in callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(target.log_dir)

    class RecordMlflowRun(TrainerCallback):  # after MLflowCallback's on_train_begin, which starts the run
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            import mlflow

            run = mlflow.active_run()
            if state.is_world_process_zero and run is not None:
                target.log_dir.mkdir(parents=True, exist_ok=True)
                record = {"run_id": run.info.run_id, "tracking_uri": mlflow.get_tracking_uri()}
                (target.log_dir / MLFLOW_RUN_FILE).write_text(json.dumps(record), encoding="utf-8")

    if any(isinstance(c, MLflowCallback) for c in callbacks):
        trainer.add_callback(RecordMlflowRun())


def round_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Every number of a round's summary (`fair_core.report.summary.round_summary`: accuracies with n and
    interval, rationales and acceptance per teacher, calls, tokens, cost per teacher and in all, samples),
    plus training_samples (rationale + feedback samples), as `fair/<key>`; not the round index."""
    numbers = {
        key: float(value)
        for key, value in summary.items()
        if key != "round"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    }
    if "rationale_samples" in numbers or "feedback_samples" in numbers:
        numbers["training_samples"] = numbers.get("rationale_samples", 0.0) + numbers.get(
            "feedback_samples", 0.0
        )
    return {PREFIX + key: value for key, value in sorted(numbers.items())}


def _tensorboard(target: TrackingTarget, metrics: Mapping[str, float], step: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(target.log_dir))
    try:
        for tag, value in metrics.items():
            writer.add_scalar(tag, value, global_step=step)
    finally:
        writer.close()


def _mlflow(target: TrackingTarget, metrics: Mapping[str, float], step: int) -> None:
    import os

    import mlflow

    recorded = target.log_dir / MLFLOW_RUN_FILE
    run = json.loads(recorded.read_text(encoding="utf-8")) if recorded.is_file() else {}
    if run.get("tracking_uri"):
        mlflow.set_tracking_uri(run["tracking_uri"])
    elif os.environ.get("MLFLOW_EXPERIMENT_NAME"):
        mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
    name = None if run.get("run_id") else target.run_name  # no training this round: a run of its own
    with mlflow.start_run(run_id=run.get("run_id"), run_name=name):
        mlflow.log_metrics(dict(metrics), step=step)


WRITERS: dict[str, Callable[[TrackingTarget, Mapping[str, float], int], None]] = {
    "tensorboard": _tensorboard,
    "mlflow": _mlflow,
}


def track_round(
    report_to: Sequence[str] | Iterable[str],
    run_dir: Path,
    round_index: int,
    summary: Mapping[str, Any],
    warn: Callable[[str], None] = logger.warning,
) -> list[str]:
    """Log the round's `round_metrics` (step = the round index) to the round's tracker run in each
    training.report_to backend that takes them (`ROUND_BACKENDS`); returns those written to. Never raises:
    a tracker that fails (or lacks its package) is a warning, the round's results are kept in the run."""
    backends = list(report_to)
    if not backends:
        return []
    target, metrics, written = round_target(run_dir, round_index), round_metrics(summary), []
    for backend in backends:
        writer = WRITERS.get(backend)
        if writer is None:
            warn(f"training.report_to: {backend} gets transformers' training metrics only, not the round's")
            continue
        try:
            writer(target, metrics, round_index)
        except ImportError as err:
            warn(
                f"training.report_to: {backend} needs the {err.name} package; round {round_index} not logged"
            )
            continue
        except Exception as err:  # tracking is a view of the run, never a reason to fail it
            warn(f"training.report_to: round {round_index} metrics not logged to {backend}: {err}")
            continue
        written.append(backend)
    return written
