"""A small finished two-round run for the export tests, written with RunStore (real Parquet): three
teachers on three providers, reviews and acceptance, training samples in both rounds, summaries with
accuracy counts, and round 1's saved student (an adapter folder whose config names a relative base)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fair_core.config import parse_config
from fair_core.store import RunStore

RUN_ID = "export-run"
TEACHERS = [
    {"name": "gpt", "model": "gpt-4o-mini"},
    {"name": "gem", "provider": "gemini", "model": "gemini-2.5-flash"},
    {
        "name": "mix",
        "model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "base_url": "https://api.deepinfra.com/v1/openai",
        "api_key_env": "DEEPINFRA_API_KEY",
    },
]


def config_data(student: str = "smollm2-135m", data: str = "round") -> dict[str, Any]:
    config = parse_config(
        {
            "run": {"name": "export", "run_id": RUN_ID, "rounds": 2},
            "dataset": {"name": "gsm8k"},
            "student": {"model": student},
            "teachers": TEACHERS,
            "training": {"data": data},
        }
    )
    return config.model_dump(mode="json")


def _sample(sid: str, task: str, qid: str, teacher: str, built: int) -> dict[str, Any]:
    return {
        "sample_id": sid,
        "task": task,
        "example_id": qid,
        "teacher": teacher,
        "prompt": f"{task} prompt for {qid}",
        "completion": f"{teacher} says: the answer of {qid}",
        "weight": 1.0,
        "source_round": built,
    }


def _summary(k: int, before: int, after: int) -> dict[str, Any]:
    return {
        "round": k,
        "dataset": "gsm8k",
        "test_correct_before": before,
        "test_n_before": 4,
        "test_accuracy_before": before / 4,
        "test_correct_after": after,
        "test_n_after": 4,
        "test_accuracy_after": after / 4,
    }


def build_run(data_dir: Path, student: str = "smollm2-135m", data: str = "round") -> RunStore:
    """Round 0: questions q1-q3 wrong; gpt's rationale of q1 accepted (scores 4, 5), gem's rejected
    (2, unparseable); feedback of q1 by mix. Round 1: q2 wrong, mix's rationale accepted. With data
    `cumulative` round 1's set holds round 0's samples again (source_round 0)."""
    run = RunStore(data_dir, RUN_ID)
    run.save_config(config_data(student, data))
    examples = [
        {"id": q, "split": "train", "dataset": "gsm8k", "kind": "numeric", "question": f"What is {q}?",
         "answer": str(i)}
        for i, q in enumerate(["q1", "q2", "q3"], start=1)
    ]  # fmt: skip
    r0 = run.round(0)
    r0.write("examples", examples)
    r0.write("mistakes", [{"example_id": q, "student_completion": f"wrong {q}"} for q in ("q1", "q2", "q3")])
    r0.write(
        "reviews",
        [
            {"example_id": "q1", "author": "gpt", "reviewer": "gem", "score": 4, "valid": True},
            {"example_id": "q1", "author": "gpt", "reviewer": "mix", "score": 5, "valid": True},
            {"example_id": "q1", "author": "gem", "reviewer": "gpt", "score": 2, "valid": True},
            {"example_id": "q1", "author": "gem", "reviewer": "mix", "score": None, "valid": False},
        ],
    )
    r0.write(
        "acceptance",
        [
            {"example_id": "q1", "teacher": "gpt", "n_valid": 2, "mean_score": 4.5, "accepted": True,
             "reason": "mean 4.50 > 3"},
            {"example_id": "q1", "teacher": "gem", "n_valid": 1, "mean_score": 2.0, "accepted": False,
             "reason": "mean 2.00 <= 3"},
        ],
    )  # fmt: skip
    round0 = [_sample("s-r-q1", "rationale", "q1", "gpt", 0), _sample("s-f-q1", "feedback", "q1", "mix", 0)]
    r0.write("training_samples", round0)
    r0.set_meta(summary=_summary(0, 1, 2))
    r1 = run.round(1)
    r1.write("examples", examples)
    r1.write("mistakes", [{"example_id": "q2", "student_completion": "wrong again q2"}])
    r1.write("reviews", [{"example_id": "q2", "author": "mix", "reviewer": "gpt", "score": 5, "valid": True}])
    r1.write(
        "acceptance",
        [{"example_id": "q2", "teacher": "mix", "n_valid": 1, "mean_score": 5.0, "accepted": True,
          "reason": "mean 5.00 > 3"}],
    )  # fmt: skip
    round1 = [_sample("s-r-q2", "rationale", "q2", "mix", 1)]
    r1.write("training_samples", (round0 if data == "cumulative" else []) + round1)
    r1.set_meta(summary=_summary(1, 2, 3))
    model = r1.path / "student" / "model"
    model.mkdir(parents=True)
    adapter = {"base_model_name_or_path": "data/models/SmolLM2-135M-Instruct", "peft_type": "LORA", "r": 8}
    (model / "adapter_config.json").write_text(json.dumps(adapter), encoding="utf-8")
    (model / "adapter_model.safetensors").write_bytes(b"\0weights\0" * 100)
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{x}}"}), encoding="utf-8")
    (model / "README.md").write_text("# the training card\n", encoding="utf-8")
    record = {"method": "lora", "steps": 3, "num_samples": 3, "losses": [[1, 2.0], [3, 1.0]]}
    (model / "train_result.json").write_text(json.dumps(record), encoding="utf-8")
    return run
