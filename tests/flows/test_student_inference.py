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
    return [summarize_round(where_0, ["gpt"]), summarize_round(where_1, ["gpt"], 0.5)]


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
    # round 1 starts from round 0's student: its "before" gets round 0's evaluation counts and interval
    assert (summaries[1]["test_correct_before"], summaries[1]["test_n_before"]) == (2, 4)
    assert summaries[1]["test_accuracy_before_low"] == summaries[0]["test_accuracy_after_low"]
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


# --- issue 12: the paper's switches: evaluation asked in the training layout, raw prompts ---------------


@flow(name="test-evaluation-prompt")
def evaluation_flow(config: FairConfig, run_id: str, model: ModelRef) -> TableRef | None:
    from tasks.evaluation import evaluation_stage

    return evaluation_stage(config, RoundRef(config.run.data_dir, run_id, 0), model)


def test_paper_switches_evaluate_on_the_training_layout_without_chat_template(tiny_config) -> None:
    from transformers import AutoTokenizer

    from fair_core.records import examples_by_id
    from fair_core.students.formatting import format_prompt
    from fair_core.training.samples import build_training_samples

    config = tiny_config(
        dataset={"gym": {"task": "chain_sum", "train_size": 2, "test_size": 3}},
        evaluation={"prompt": "training"},
        training={"rationale_prompt": "instruction"},
        student={"chat_template": "raw"},
    )
    model = ModelRef(config.student.model, label="tiny")
    rows = evaluation_flow(config, "paper-eval", model).rows()
    store = RunStore(config.run.data_dir, "paper-eval").round(0)
    examples = examples_by_id(store.rows("test_examples"))
    # the training samples of these questions, built by the training code from the same prompt settings
    ids = sorted(examples)
    samples = build_training_samples(
        examples,
        [{"example_id": i, "student_completion": "wrong"} for i in ids],
        [],
        [{"example_id": i, "teacher": "gpt", "text": "rationale"} for i in ids],
        [{"example_id": i, "teacher": "gpt", "accepted": True} for i in ids],
        PromptsRef(config.prompts.template_dir).load(),
        config.training,
    )
    trained_on = {s.meta["example_id"]: s.prompt for s in samples if s.task == "rationale"}
    assert len(rows) == 3 and len(set(trained_on.values())) == 3
    for row in rows:
        assert row["prompt"].startswith("### Instruction:") and row["prompt"].endswith("### Response:")
        assert row["prompt"] == trained_on[row["example_id"]]  # byte for byte
    # and the text the model is fed is that prompt itself, though the tiny student has a chat template
    tokenizer = AutoTokenizer.from_pretrained(config.student.model)
    assert tokenizer.chat_template
    fed = format_prompt(tokenizer, rows[0]["prompt"], config.student.chat_template, None)
    assert fed == rows[0]["prompt"]
    # the default asks the bare student prompt
    plain = tiny_config(dataset={"gym": {"task": "chain_sum", "train_size": 2, "test_size": 3}})
    default_rows = evaluation_flow(plain, "default-eval", model).rows()
    assert not any(r["prompt"].startswith("### Instruction:") for r in default_rows)


def test_prepare_examples_warns_once_about_a_local_strategyqa_split(tmp_path: Path, caplog) -> None:
    import json
    import logging

    from fair_core.config import DatasetConfig

    rows = [{"qid": "q1", "question": "Is ice cold?", "answer": True, "facts": ["Ice is frozen water."]}]
    (tmp_path / "train.json").write_text(json.dumps(rows))
    cfg = DatasetConfig(name="strategyqa", source="local", path=str(tmp_path))
    with caplog.at_level(logging.INFO):
        prepare_examples.fn(cfg, "train", RoundRef(str(tmp_path / "data"), "sqa", 0), "examples")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "ChilleD/StrategyQA" in warnings[0] and "1603" in warnings[0], warnings


def test_sampled_evaluation_per_seed_with_mean_and_spread(tiny_config) -> None:
    """`evaluation.seeds` (the paper's sampled decoding, repeated): the first seed's answers are the usual
    `evaluation` table, every seed's are a part of `evaluation_seeds`, and the accuracy rows add their mean
    and spread."""
    import statistics

    from fair_core.evaluation import accuracy, accuracy_rows, seed_parts

    sampled = {"greedy": False, "temperature": 1.0, "top_p": 0.9, "seeds": [3, 4]}
    config = tiny_config(
        dataset={"gym": {"task": "chain_sum", "train_size": 2, "test_size": 4}}, evaluation=sampled
    )
    model = ModelRef(config.student.model, label="tiny")
    main = evaluation_flow(config, "seeds-a", model).rows()
    store = RunStore(config.run.data_dir, "seeds-a").round(0)
    assert seed_parts(store, "evaluation_seeds") == [(3, "seed-3"), (4, "seed-4")]
    first, second = (store.rows("evaluation_seeds", part) for part in ("seed-3", "seed-4"))
    assert first == main and len(second) == 4
    assert [r["completion"] for r in second] != [r["completion"] for r in first]
    (row,) = [r for r in accuracy_rows(store) if r["table"] == "evaluation_seeds"]
    per_seed = [accuracy(first) or 0.0, accuracy(second) or 0.0]
    assert row["seeds"] == 2 and row["split"] == "test, 2 seeds" and row["examples"] == 8
    assert row["accuracy"] == sum(per_seed) / 2
    assert row["accuracy_std"] == statistics.stdev(per_seed)
    assert row["seed_accuracies"] == f"3: {per_seed[0]:.1%}, 4: {per_seed[1]:.1%}"
