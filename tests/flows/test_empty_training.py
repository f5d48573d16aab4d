"""A round whose training set is empty leaves no earlier model, manifest record or loss plot behind."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from fair_core.config import FairConfig
from fair_core.refs import ModelRef, RoundRef
from fair_core.runs import round_student, trained_student
from tasks.training import fine_tune


@flow(name="test-empty-training")
def fine_tune_flow(config: FairConfig, where: RoundRef, base: ModelRef) -> ModelRef:
    samples = where.table("training_samples")
    return fine_tune(config.training, config.student, base, samples, 0, where)


def _sample(i: int) -> dict:
    return {
        "sample_id": f"s{i}",
        "task": "rationale",
        "example_id": f"q{i}",
        "teacher": "gpt",
        "prompt": f"What is {i} + {i}?",
        "completion": f"{i} + {i} = {2 * i}.",
        "weight": 1.0,
        "source_round": 0,
    }


def test_an_empty_training_set_removes_the_earlier_attempts_model(tiny_config, torch_single_thread) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(run={"rounds": 2})
    where = RoundRef(config.run.data_dir, config.run_id(), 0)
    store = where.store()
    base = ModelRef(config.student.model, None, config.student.model)
    store.write("training_samples", [_sample(i) for i in range(4)])
    trained = fine_tune_flow(config, where, base)
    model = store.path / "student" / "model"
    assert trained.adapter == str(model) and (model / "loss.png").is_file()
    assert store.manifest()["stages"]["fine-tune"]["result"]["num_samples"] == 4

    store.write("training_samples", [])  # the same round again, now with nothing to learn from
    unchanged = fine_tune_flow(config, where, base)
    assert (unchanged.base, unchanged.adapter) == (base.base, None)
    assert not (store.path / "student").exists()  # model, card, loss.png and checkpoints are gone
    record = store.manifest()["stages"]["fine-tune"]
    assert record["trained"] is False and "result" not in record and record["outputs"] == []
    # the next round, a stage deployment: student_k unchanged, never a stale model
    after = trained_student(config, 0, base)
    assert (after.base, after.adapter, after.label) == (base.base, None, unchanged.label)
    assert round_student(config, 1, base).base == base.base
    assert Path(base.base).is_dir()
