"""A small two-round run store for the report tests: round 0 finished and trained, round 1 still running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fair_core.store import RunStore

RUN_ID = "tiny-report"
EVIL = "gem<script>alert(1)</script>"  # a teacher name that must come out escaped
TEACHERS = ["gpt", EVIL]


def _generations(ids: list[str], split: str, correct: list[bool]) -> list[dict[str, Any]]:
    return [
        {"example_id": i, "split": split, "model": "m", "prompt": "p", "completion": "c", "correct": ok}
        for i, ok in zip(ids, correct, strict=True)
    ]


def _examples(ids: list[str], split: str) -> list[dict[str, Any]]:
    return [
        {"id": i, "split": split, "dataset": "gsm8k", "kind": "numeric", "question": "q", "answer": "1"}
        for i in ids
    ]


def _call(teacher: str, role: str, provider: str, cached: bool, cost: float) -> dict[str, Any]:
    return {
        "request_key": f"{teacher}-{role}-{cached}",
        "teacher": teacher,
        "role": role,
        "provider": provider,
        "status": "ok",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached": cached,
        "mode": "cache" if cached else "online",
        "cost_usd": 0.0 if cached else cost,
        "billed_usd": cost,
    }


def _review(example: str, author: str, reviewer: str, score: int | None) -> dict[str, Any]:
    valid = score is not None and 1 <= score <= 5
    return {"example_id": example, "author": author, "reviewer": reviewer, "score": score, "valid": valid}


def _acceptance(example: str, teacher: str, accepted: bool) -> dict[str, Any]:
    return {"example_id": example, "teacher": teacher, "n_valid": 1, "accepted": accepted, "reason": "r"}


def build_run(data_dir: Path) -> RunStore:
    """Round 0: answers, calls on two providers, reviews, acceptance, a trained model's record (losses, no
    loss.png), a saved summary. Round 1: training answers and mistakes only (the round is running)."""
    run = RunStore(data_dir, RUN_ID)
    r0 = run.round(0)
    train, test = ["a", "b", "c"], ["t1", "t2"]
    r0.write("examples", _examples(train, "train"))
    r0.write("test_examples", _examples(test, "test"))
    r0.write("student_outputs", _generations(train, "train", [True, False, False]))
    r0.write("mistakes", [{"example_id": "b"}, {"example_id": "c"}])
    r0.write("baseline_evaluation", _generations(test, "test", [False, False]))
    r0.write("evaluation", _generations(test, "test", [True, False]))
    r0.write("teacher_calls", [_call("gpt", "rationale", "openai", False, 0.25)], part="gpt-rationale")
    r0.write(
        "teacher_calls",
        [_call(EVIL, "review", "gemini", True, 0.5), _call(EVIL, "review", "gemini", False, 0.5)],
        part="gem-review",
    )
    r0.write(
        "reviews",
        [
            _review("b", "gpt", EVIL, 5),
            _review("c", "gpt", EVIL, 4),
            _review("b", EVIL, "gpt", 2),
            _review("c", EVIL, "gpt", None),  # unparseable
            _review("c", EVIL, "gpt", 9),  # out of range
        ],
    )
    r0.write(
        "acceptance",
        [
            _acceptance("b", "gpt", True),
            _acceptance("c", "gpt", True),
            _acceptance("b", EVIL, False),
            _acceptance("c", EVIL, False),
        ],
    )
    model = r0.path / "student" / "model"
    model.mkdir(parents=True)
    record = {"method": "lora", "steps": 4, "losses": [[1, 2.0], [2, 1.5], [3, 1.2], [4, 1.0]]}
    record |= {"eval_losses": [[0, 2.1], [4, 1.1]], "final_train_loss": 1.1, "num_samples": 6}
    (model / "train_result.json").write_text(json.dumps(record), encoding="utf-8")
    config = {"teachers": [{"name": t} for t in TEACHERS], "student": {"model": "tiny"}}
    r0.set_meta(config_hash="cafe1234", config=config, summary={"round": 0, "dataset": "gsm8k"})
    r1 = run.round(1)
    r1.write("examples", _examples(train, "train"))
    r1.write("student_outputs", _generations(train, "train", [True, True, False]))
    r1.write("mistakes", [{"example_id": "c"}])
    r1.set_meta(config_hash="cafe1234", config=config)
    return run
