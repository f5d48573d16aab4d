"""What a training run produced: `TrainResult` (also the JSON record saved beside the model)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    """Where the trained student is and how training went.

    model_dir: a peft adapter folder (method lora; load it on top of the base model) or a full model folder
    (method full), with the tokenizer, the model card (README.md) and the loss curve (loss.png).
    losses / learning_rates: every (optimizer step, value), earlier runs of a resumed training included;
    train_loss: their mean; final_train_loss: the mean over the last epoch's steps. rationale_losses /
    feedback_losses: each task's own (unweighted) loss per step, where the step had samples of it; epochs:
    the epoch reached at every logged step (epoch k ends at the first step at or past k). eval_losses: the
    validation loss (step, value) before training (step 0), after every epoch and at the end.
    useful_tokens / token_slots: non-padding tokens and all positions computed in this run's training
    batches. resumed_from: the checkpoint training resumed from, if any. reused: the model was already
    complete and nothing was trained.
    """

    model_dir: Path
    steps: int
    train_loss: float
    losses: list[tuple[int, float]] = field(default_factory=list)
    resumed_from: str | None = None
    method: str = "lora"
    num_samples: int = 0
    dropped: int = 0
    truncated: int = 0
    reused: bool = False
    learning_rates: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    final_train_loss: float | None = None
    num_validation_samples: int = 0
    train_questions: int = 0
    validation_questions: int = 0
    batching: str = "length_grouped"
    precision: str = "fp32"
    world_size: int = 1
    seed: int = 0
    useful_tokens: int = 0
    token_slots: int = 0
    train_seconds: float = 0.0
    rationale_losses: list[tuple[int, float]] = field(default_factory=list)
    feedback_losses: list[tuple[int, float]] = field(default_factory=list)
    epochs: list[tuple[int, float]] = field(default_factory=list)

    @property
    def padding_fraction(self) -> float | None:
        return 1 - self.useful_tokens / self.token_slots if self.token_slots else None

    @property
    def initial_eval_loss(self) -> float | None:
        return self.eval_losses[0][1] if self.eval_losses and self.eval_losses[0][0] == 0 else None

    @property
    def final_eval_loss(self) -> float | None:
        return self.eval_losses[-1][1] if self.eval_losses else None

    def record(self) -> dict[str, Any]:
        """The JSON written beside the model (train_result.json)."""
        data = asdict(self)
        data.pop("model_dir")
        data.pop("reused")
        return data | {"padding_fraction": self.padding_fraction}

    @classmethod
    def from_record(cls, model_dir: Path, data: Mapping[str, Any]) -> TrainResult:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key in (
            "losses",
            "learning_rates",
            "eval_losses",
            "rationale_losses",
            "feedback_losses",
            "epochs",
        ):
            values[key] = [tuple(x) for x in values.get(key, [])]
        return cls(**(values | {"model_dir": Path(model_dir), "reused": True}))


def history(log_history: Sequence[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    seen: dict[int, float] = {}
    for log in log_history:
        if key in log and log[key] is not None:
            seen[int(log["step"])] = float(log[key])
    return sorted(seen.items())


def last_epoch_mean(losses: list[tuple[int, float]], steps: int, epochs: float) -> float | None:
    if not losses:
        return None
    per_epoch = max(1, math.ceil(steps / max(epochs, 1e-9))) if epochs >= 1 else steps
    tail = [loss for step, loss in losses if step > steps - per_epoch] or [losses[-1][1]]
    return sum(tail) / len(tail)
