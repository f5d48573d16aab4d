"""The paper code's SVAMP round 0 (imported reference outputs) under the paper switches: the training set
and the optimizer steps the paper code takes; and the steps a real Trainer takes with pairs or samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from fair_core.config import TrainingConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example, TrainSample
from fair_core.review import select_rationales
from fair_core.store import RunStore
from fair_core.store.reference import import_reference
from fair_core.training.arguments import planned_steps
from fair_core.training.round import round_training_set
from fair_core.training.trainer import train_student

PAPER = dict(
    feedback_without_rationale="drop",
    batch_unit="pair",
    batch_size=8,
    grad_accum=2,
    epochs=10,
    lr_scheduler="constant",
    weight_decay=0.01,
    max_grad_norm=0.3,
    loss_reduction="token",
)


class _MaxSteps(Exception):
    pass


class _StopAtStart(TrainerCallback):
    """Ends training before its first step, reporting the optimizer steps Trainer planned."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        raise _MaxSteps(state.max_steps)


def _planned_by_trainer(samples: list[TrainSample], model: Path, out: Path, cfg: TrainingConfig) -> int:
    with pytest.raises(_MaxSteps) as stop:
        train_student(samples, model, out, cfg, callbacks=[_StopAtStart()])
    return int(stop.value.args[0])


@pytest.fixture(scope="module")
def svamp_round0(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> tuple[dict, dict]:
    store = RunStore(tmp_path_factory.mktemp("reference"), "reference").round(0)
    import_reference(shared_datasets / "reference_round0", store)
    examples = {r["id"]: Example.from_row(r) for r in store.rows("examples")}
    tables = {name: store.rows(name) for name in ("mistakes", "feedback", "rationales")}
    tables["acceptance"] = select_rationales(tables["rationales"], store.rows("reviews"), threshold=3.0)
    return examples, tables


def _build(svamp_round0: tuple[dict, dict], **overrides: Any) -> list[TrainSample]:
    examples, tables = svamp_round0
    cfg = TrainingConfig(**overrides)
    return round_training_set(examples, tables, PromptSet(), cfg, None, seed=731, round_index=0).samples


@pytest.mark.usefixtures("torch_single_thread")
def test_paper_switches_on_svamp_round0(svamp_round0, tiny_model_dir: Path, tmp_path: Path) -> None:
    paper = _build(svamp_round0, **PAPER)
    feedback = {s.meta["example_id"] for s in paper if s.task == "feedback"}
    rationale = {s.meta["example_id"] for s in paper if s.task == "rationale"}
    assert len(paper) == 730 and feedback == rationale and len(feedback) == 365  # 22 of 387 dropped
    # the paper code: ceil(365 / 8) = 46 batches of pairs, // 2 accumulation = 23 steps an epoch, x 10
    cfg = TrainingConfig(**PAPER, max_length=4096)
    assert planned_steps(365, cfg) == 10 * (46 // 2) == 230
    assert _planned_by_trainer(paper, tiny_model_dir, tmp_path / "pair", cfg) == 230

    today = _build(svamp_round0)  # keep the 22 questions' feedback, samples drawn across the tasks
    assert sum(s.task == "feedback" for s in today) == 387 and len(today) == 752
    sample_cfg = TrainingConfig(batch_size=8, grad_accum=2, epochs=10, max_length=4096)
    assert _planned_by_trainer(today, tiny_model_dir, tmp_path / "sample", sample_cfg) == 470  # 94 batches


def test_single_teacher_without_review_on_svamp_round0(svamp_round0) -> None:
    reviewed = _build(svamp_round0, teachers=["gpt"])
    unreviewed = _build(svamp_round0, teachers=["gpt"], single_teacher_review="skip")
    assert sum(s.task == "rationale" for s in reviewed) == 286  # gpt's peer-accepted rationales
    assert sum(s.task == "rationale" for s in unreviewed) == 387  # the paper code: gpt_rationale[0] each
    assert {s.meta["teacher"] for s in unreviewed} == {"gpt"}
