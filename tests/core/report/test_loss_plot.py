"""The report's loss curve: each task's loss smoothed over its raw points, with the epochs' ends marked."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from fair_core.report.plots import WEIGHTED, epoch_ends, loss_plot, loss_series, plot_loss_curve, smooth
from tests.core.report_store import build_run

PNG = b"\x89PNG\r\n\x1a\n"

#: A training of 3 epochs of 4 steps: rationale samples at every step, feedback at all but step 6.
RECORD = {
    "method": "lora",
    "steps": 12,
    "losses": [[s, 3.0 - 0.2 * s] for s in range(1, 13)],
    "rationale_losses": [[s, 2.5 - 0.1 * s] for s in range(1, 13)],
    "feedback_losses": [[s, 4.0 - 0.25 * s] for s in range(1, 13) if s != 6],
    "epochs": [[s, s / 4] for s in range(1, 13)],
    "eval_losses": [[0, 3.1], [4, 2.4], [8, 2.0], [12, 1.8]],
}


def test_series_per_task_with_epoch_ends() -> None:
    series = loss_series(RECORD)
    assert list(series.raw) == ["rationale", "feedback", WEIGHTED]
    assert series.raw["rationale"] == [(s, pytest.approx(2.5 - 0.1 * s)) for s in range(1, 13)]
    assert [s for s, _ in series.raw["feedback"]] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]  # no step 6
    assert {name: len(curve) for name, curve in series.smoothed.items()} == {
        "rationale": 12,
        "feedback": 11,
        WEIGHTED: 12,
    }
    assert [s for s, _ in series.smoothed["feedback"]] == [s for s, _ in series.raw["feedback"]]
    assert series.epoch_ends == [(1, 4), (2, 8), (3, 12)]
    assert series.eval_losses == [(0, 3.1), (4, 2.4), (8, 2.0), (12, 1.8)]
    assert plot_loss_curve(series, "round 0").startswith(PNG)


def test_smoothing_follows_the_trend_with_less_noise() -> None:
    assert smooth([]) == []
    assert smooth([(1, 2.0), (2, 2.0), (3, 2.0)]) == [(1, 2.0), (2, 2.0), (3, pytest.approx(2.0))]
    noisy = [(s, 10.0 - 0.1 * s + (0.5 if s % 2 else -0.5)) for s in range(1, 101)]
    smoothed = smooth(noisy)
    assert smoothed[0] == noisy[0]  # debiased: the first point is the first value
    assert [s for s, _ in smoothed] == [s for s, _ in noisy]
    jumps = [abs(b[1] - a[1]) for a, b in itertools.pairwise(smoothed[50:])]
    assert max(jumps) < 0.5  # the raw curve jumps by about 1 at every step
    assert smoothed[-1][1] < smoothed[10][1] - 5  # the downward trend is kept


def test_epoch_ends_of_fractional_and_resumed_trainings() -> None:
    assert epoch_ends([(1, 0.4), (2, 0.8), (3, 1.2)]) == [(1, 3)]  # the first step at or past epoch 1
    assert epoch_ends([(2, 1.0), (1, 0.5), (3, 1.5), (4, 2.0)]) == [(1, 2), (2, 4)]
    assert epoch_ends([(1, 0.999999999)]) == [(1, 1)]  # float noise in Trainer's epoch
    assert epoch_ends([]) == [] and epoch_ends([(1, 0.3)]) == []


def test_a_record_from_before_task_losses_plots_the_weighted_loss(tmp_path: Path) -> None:
    old = {"losses": RECORD["losses"], "eval_losses": RECORD["eval_losses"]}
    series = loss_series(old)
    assert list(series.raw) == [WEIGHTED] and series.epoch_ends == []
    assert plot_loss_curve(series).startswith(PNG)
    assert plot_loss_curve(loss_series({})).startswith(PNG)  # nothing logged: an empty chart


def test_the_round_plot_is_drawn_from_the_training_record(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    model = run.round(0).path / "student" / "model"
    (model / "train_result.json").write_text(json.dumps(RECORD), encoding="utf-8")
    png, source = loss_plot(run.round(0))
    assert png.startswith(PNG) and source == model / "train_result.json"
    (model / "loss.png").write_bytes(b"old style")  # a loss.png from an older trainer: redrawn anyway
    png, source = loss_plot(run.round(0))
    assert png.startswith(PNG) and source == model / "loss.png"
    (model / "train_result.json").unlink()
    assert loss_plot(run.round(0)) == (b"old style", model / "loss.png")
