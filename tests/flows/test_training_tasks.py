"""The training tasks: switches and lineage in the manifest, a cumulative set found through the store, and
fine-tune's live view (progress with loss and learning rate, loss-curve artifacts, model card)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from fair_core.config import ReviewConfig, StudentConfig, TrainingConfig
from fair_core.progress import using_sink
from fair_core.refs import ModelRef, PromptsRef, RoundRef
from fair_core.review import select_rationales
from fair_core.store.parquet import StoreError
from fair_core.store.reference import import_reference
from tasks.report import artifact_key
from tasks.training import build_training_set, earlier_training_sets, fine_tune

INPUTS = ("examples", "mistakes", "feedback", "rationales", "acceptance")


def _build(training: TrainingConfig, where: RoundRef) -> Any:
    refs = [where.table(n) for n in INPUTS]
    earlier = earlier_training_sets(where, training)
    return build_training_set.fn(
        training, 0, *refs, PromptsRef(), where, review=ReviewConfig(), earlier=earlier
    )


def test_cumulative_round_merges_earlier_rounds_through_the_store(
    shared_datasets: Path, tmp_path: Path
) -> None:
    cumulative = TrainingConfig(data="cumulative")
    first = RoundRef(str(tmp_path), "ref", 0)
    store0 = first.store()
    import_reference(shared_datasets / "reference_round0", store0)
    store0.write("acceptance", select_rationales(store0.rows("rationales"), store0.rows("reviews")))
    assert len(_build(cumulative, first).rows()) == 752  # round 0: nothing earlier

    second = RoundRef(str(tmp_path), "ref", 1)
    store1 = second.store()
    for name in ("examples", "feedback", "rationales", "acceptance"):
        store1.write(name, store0.rows(name))
    again = [
        dict(m, student_completion=f"{m['student_completion']} (again)") for m in store0.rows("mistakes")
    ]
    store1.write("mistakes", again[:100])  # still wrong on 100 questions, with new wrong answers
    assert earlier_training_sets(second, cumulative) == [first.table("training_samples")]
    rows = _build(cumulative, second).rows()
    stage = store1.manifest()["stages"]["build-training-set"]
    assert stage["counts"]["by_round"] == {"0": 752, "1": 100} and len(rows) == 852
    assert {r["source_round"] for r in rows} == {0, 1}
    assert stage["inputs"]["round=0/training_samples"] == store0.content_hash("training_samples")
    assert stage["inputs"]["mistakes"] == store1.content_hash("mistakes")
    assert stage["settings"]["data"] == "cumulative" and stage["settings"]["peer_review"] is True

    per_round = _build(TrainingConfig(), second).rows()  # data=round: this round's samples only
    assert {r["source_round"] for r in per_round} == {1} and len(per_round) < 200
    with pytest.raises(StoreError, match="round 0 of run other has no training_samples"):
        earlier_training_sets(RoundRef(str(tmp_path), "other", 1), cumulative)


@flow(name="test-fine-tune")
def fine_tune_flow(training: TrainingConfig, student: StudentConfig, where: RoundRef) -> ModelRef:
    return fine_tune(training, student, ModelRef(student.model), where.table("training_samples"), 0, where)


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[str, int, int, str]] = []

    def start(self, stage: str, total: int) -> None:
        pass

    def update(self, stage: str, done: int, total: int, info: str = "") -> None:
        self.updates.append((stage, done, total, info))

    def finish(self, stage: str) -> None:
        pass


def test_fine_tune_streams_loss_and_publishes_the_curve(tiny_model_dir: Path, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    where = RoundRef(str(tmp_path), "ft-run", 0)
    store = where.store()
    store.write(
        "training_samples",
        [
            {
                "sample_id": f"s{i}",
                "task": "rationale",
                "example_id": f"q{i}",
                "teacher": "gpt",
                "prompt": f"What is {i} + {i}?",
                "completion": f"{i} + {i} = {2 * i}.",
                "weight": 1.0,
                "source_round": 0,
            }
            for i in range(8)
        ],
    )
    store.record_stage("build-training-set", inputs={}, outputs=[], extra={"settings": {"teachers": "mixed"}})
    training = TrainingConfig(
        learning_rate=1e-2, epochs=2, batch_size=2, grad_accum=1, validation_fraction=0.25
    )
    recorder = Recorder()
    with using_sink(recorder):
        model = fine_tune_flow(training, StudentConfig(model=str(tiny_model_dir)), where)
    adapter = Path(model.adapter)
    assert (adapter / "adapter_config.json").is_file() and (adapter / "loss.png").is_file()
    assert "| teachers | mixed |" in (adapter / "README.md").read_text()
    infos = [u[3] for u in recorder.updates]
    assert infos[0].startswith("val ")  # the validation loss before training
    assert any(i.startswith("loss ") and " lr " in i and " val " in i for i in infos)
    assert recorder.updates[-1][1:3] == (6, 6)
    result = store.manifest()["stages"]["fine-tune"]["result"]
    assert result["steps"] == 6 and result["num_validation_samples"] == 2
    key = artifact_key("fair", "ft-run", "round", 0, "loss")
    with get_client(sync_client=True) as client:
        curve = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        report = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{key}-report"]))
        )
    assert curve and report and "eval_loss" in str(curve[0].data) and "validation loss" in str(report[0].data)


def test_paper_switches_build_the_paper_code_training_set(shared_datasets: Path, tmp_path: Path) -> None:
    """feedback_without_rationale=drop: the 22 SVAMP questions with no accepted rationale leave both tasks,
    and the manifest records the switches."""
    where = RoundRef(str(tmp_path), "ref", 0)
    store = where.store()
    import_reference(shared_datasets / "reference_round0", store)
    store.write("acceptance", select_rationales(store.rows("rationales"), store.rows("reviews")))
    paper = TrainingConfig(feedback_without_rationale="drop", batch_unit="pair")
    rows = _build(paper, where).rows()
    assert len(rows) == 730 and sum(r["task"] == "feedback" for r in rows) == 365
    settings = store.manifest()["stages"]["build-training-set"]["settings"]
    assert settings["feedback_without_rationale"] == "drop" and settings["single_teacher_review"] == "keep"
