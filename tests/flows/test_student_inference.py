"""Student inference as Prefect tasks: sharding, repeatable evaluation, accuracy table, plot and artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from fair_core.config import FairConfig, StudentConfig
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.store import RunStore
from fair_core.students.base import GenerationParams
from tasks.inference import answer_table, prepare_examples
from tasks.report import artifact_key, summarize_round

GREEDY = GenerationParams(max_new_tokens=8)


@flow(name="test-student-answers")
def answers_flow(
    student: StudentConfig, model: ModelRef, config: FairConfig, run_id: str, params: GenerationParams
) -> TableRef:
    where = RoundRef(config.run.data_dir, run_id, 0)
    test = prepare_examples(config.dataset, config.dataset.test_split, where, "test_examples")
    return answer_table(student, model, test, PromptsRef(), params, where, "evaluation")


def _answers(config: FairConfig, run_id: str, shards: int = 1, params: GenerationParams = GREEDY) -> list:
    student = config.student.model_copy(update={"shards": shards})
    model = ModelRef(config.student.model, label="tiny")
    return answers_flow(student, model, config, run_id, params).rows()


def test_sharded_and_repeated_evaluation_give_the_same_rows(tiny_config) -> None:
    config = tiny_config(dataset={"gym": {"task": "chain_sum", "train_size": 2, "test_size": 7}})
    first = _answers(config, "eval-a")
    assert len(first) == 7 and len({r["completion"] for r in first}) > 2
    assert _answers(config, "eval-b") == first  # a second evaluation run: same answers, same accuracy
    sharded = _answers(config, "eval-c", shards=3)
    assert sharded == first
    store = RunStore(config.run.data_dir, "eval-c").round(0)
    parts = sorted(p.name for p in (store.path / "evaluation").glob("*.parquet"))
    assert parts == [f"shard-00{i}-of-003.parquet" for i in range(1, 4)]
    assert [len(store.rows("evaluation", p.removesuffix(".parquet"))) for p in parts] == [2, 2, 3]


def test_sampled_evaluation_repeats_with_its_seed(tiny_config) -> None:
    config = tiny_config(dataset={"gym": {"task": "chain_sum", "train_size": 2, "test_size": 5}})
    sampled = GenerationParams(max_new_tokens=8, greedy=False, temperature=1.0, seed=5)
    first = _answers(config, "sample-a", params=sampled)
    assert _answers(config, "sample-b", params=sampled) == first
    other = GenerationParams(max_new_tokens=8, greedy=False, temperature=1.0, seed=6)
    assert _answers(config, "sample-c", params=other) != first


@flow(name="test-summaries")
def summaries_flow(where_0: RoundRef, where_1: RoundRef) -> list[dict]:
    return [summarize_round(where_0, ["gpt"]), summarize_round(where_1, ["gpt"])]


def _generation_rows(ids: list[str], split: str, correct: list[bool]) -> list[dict]:
    return [
        {
            "example_id": i,
            "split": split,
            "model": "m",
            "prompt": "p",
            "completion": "c",
            "completion_tokens": 1,
            "predicted": "1",
            "gold": "1",
            "correct": ok,
        }
        for i, ok in zip(ids, correct, strict=True)
    ]


def _example_rows(ids: list[str], split: str, datasets: list[str]) -> list[dict]:
    return [
        {"id": i, "split": split, "dataset": d, "kind": "numeric", "question": "q", "answer": "1"}
        for i, d in zip(ids, datasets, strict=True)
    ]


def test_round_summary_has_accuracy_per_dataset_a_plot_and_artifacts(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    run = RunStore(tmp_path, "acc-run")
    test_ids, train_ids = ["t1", "t2", "t3", "t4"], ["a", "b"]
    for k in (0, 1):
        store = run.round(k)
        store.write("test_examples", _example_rows(test_ids, "test", ["gsm8k", "gsm8k", "svamp", "svamp"]))
        store.write("examples", _example_rows(train_ids, "train", ["gsm8k", "gsm8k"]))
        store.write("student_outputs", _generation_rows(train_ids, "train", [k == 1, False]))
        store.write("evaluation", _generation_rows(test_ids, "test", [True, k == 1, False, True]))
    run.round(0).write("baseline_evaluation", _generation_rows(test_ids, "test", [False, False, False, True]))

    summaries = summaries_flow(RoundRef(str(tmp_path), "acc-run", 0), RoundRef(str(tmp_path), "acc-run", 1))
    assert [s["dataset"] for s in summaries] == ["gsm8k,svamp", "gsm8k,svamp"]
    assert [s["test_accuracy_after"] for s in summaries] == [0.5, 0.75]
    plot = Path(summaries[1]["accuracy_plot"])
    assert plot == run.root / "accuracy.png" and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    accuracy = run.round(1).manifest()["accuracy"]
    after = {(r["split"], r["dataset"]): r["accuracy"] for r in accuracy if r["table"] == "evaluation"}
    assert after == {("test", "gsm8k"): 1.0, ("test", "svamp"): 0.5}
    assert {r["student"] for r in accuracy} == {1, 2}  # round 1: student_1 on train, student_2 on test

    key = artifact_key("fair", "acc-run", "accuracy")
    with get_client(sync_client=True) as client:
        tables = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        plots = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{key}-plot"]))
        )
    assert tables and plots
    assert "data:image/png;base64," in str(plots[0].data) and str(plot) in str(plots[0].data)
