"""Small finished runs on disk (real Parquet through the store) for the comparison tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fair_core.store import RunStore

QUESTIONS = [f"q{i}" for i in range(10)]


def _answers(pattern: str) -> list[dict[str, Any]]:
    return [
        {
            "example_id": q,
            "split": "test",
            "model": "m",
            "prompt": "p",
            "completion": "c",
            "correct": c == "1",
        }
        for q, c in zip(QUESTIONS, pattern, strict=True)
    ]


def _calls(spec: list[tuple[str, str, float, float]]) -> list[dict[str, Any]]:
    """(teacher, mode, cost_usd paid, billed_usd) per call."""
    return [
        {
            "request_key": f"k{i}",
            "teacher": teacher,
            "role": "rationale",
            "provider": teacher,
            "status": "ok",
            "mode": mode,
            "cached": mode == "cache",
            "cost_usd": paid,
            "billed_usd": billed,
        }
        for i, (teacher, mode, paid, billed) in enumerate(spec)
    ]


def _samples(rationale: int, feedback: int) -> list[dict[str, Any]]:
    tasks = ["rationale"] * rationale + ["feedback"] * feedback
    return [{"sample_id": f"s{i}", "task": t, "example_id": "q0", "weight": 1.0} for i, t in enumerate(tasks)]


def build(
    data_dir: Path,
    run_id: str,
    evaluations: list[str],
    calls: list[list[tuple[str, str, float, float]]] | None = None,
    samples: list[tuple[int, int]] | None = None,
    baseline: str | None = None,
    sweep: dict[str, Any] | None = None,
    finished: int | None = None,
) -> RunStore:
    """A run with one round per evaluation pattern ("1" = right on that question); the first `finished`
    rounds (default all) have a saved summary, the others are still running."""
    run = RunStore(data_dir, run_id)
    done = len(evaluations) if finished is None else finished
    for k, pattern in enumerate(evaluations):
        store = run.round(k)
        store.write(
            "test_examples",
            [
                {"id": q, "split": "test", "dataset": "d", "kind": "numeric", "question": "?", "answer": "1"}
                for q in QUESTIONS
            ],
        )
        store.write("evaluation", _answers(pattern))
        if k == 0 and baseline is not None:
            store.write("baseline_evaluation", _answers(baseline))
        store.write("teacher_calls", _calls((calls or [])[k] if calls else []))
        rationale, feedback = samples[k] if samples else (0, 0)
        store.write("training_samples", _samples(rationale, feedback))
        if k < done:
            store.set_meta(summary={"round": k})
    if sweep is not None:
        (run.root / "sweep.json").write_text(json.dumps(sweep), encoding="utf-8")
    return run
