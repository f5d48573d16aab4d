"""Build the two-task FAIR training set from a round's tables, with alpha folded into sample weights."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from fair_core.config import TrainingConfig
from fair_core.hashing import stable_hash
from fair_core.prompts import PromptSet
from fair_core.records import Example, TaskName, TrainSample


def task_weights(n_feedback: int, n_rationale: int, alpha: float) -> dict[TaskName, float]:
    """Per-sample weights whose dataset mean is 1 and whose weighted mean loss is
    alpha * mean(L_feedback) + (1 - alpha) * mean(L_rationale).

    With N = n_f + n_r samples, a feedback sample weighs alpha * N / n_f and a rationale sample
    (1 - alpha) * N / n_r, so the mean over all samples of weight_i * loss_i is the objective above,
    and the mean over a random batch is an unbiased estimate of it. With one task absent, the other
    weighs 1.
    """
    total = n_feedback + n_rationale
    if n_feedback == 0 or n_rationale == 0:
        return {"feedback": 1.0, "rationale": 1.0}
    return {"feedback": alpha * total / n_feedback, "rationale": (1 - alpha) * total / n_rationale}


def _pick(items: list[Any], how: str, seed: int, key: str) -> list[Any]:
    if how == "all" or len(items) <= 1:
        return items
    return [random.Random(f"{seed}:{key}").choice(items)]


def build_training_samples(
    examples: Mapping[str, Example],
    mistakes: Sequence[Mapping[str, Any]],
    feedback: Sequence[Mapping[str, Any]],
    rationales: Sequence[Mapping[str, Any]],
    acceptance: Sequence[Mapping[str, Any]],
    prompts: PromptSet,
    cfg: TrainingConfig,
    seed: int = 0,
) -> list[TrainSample]:
    """Learn-from-the-gold-rationale samples (question -> an accepted rationale) and learn-from-own-mistakes
    samples (question + wrong answer + correct answer -> a teacher's feedback) for every mistake."""
    accepted = {(a["example_id"], a["teacher"]) for a in acceptance if a["accepted"]}
    texts = {(r["example_id"], r["teacher"]): r["text"] for r in rationales if r.get("text")}
    notes: dict[str, list[tuple[str, str]]] = {}
    for row in feedback:
        if row.get("text") and row.get("status", "ok") == "ok":
            notes.setdefault(row["example_id"], []).append((row["teacher"], row["text"]))
    rationale_samples: list[tuple[str, str, str, str]] = []
    feedback_samples: list[tuple[str, str, str, str]] = []
    for mistake in mistakes:
        example_id = mistake["example_id"]
        example = examples.get(example_id)
        if example is None:
            continue
        keep = sorted(t for (e, t) in accepted if e == example_id and (e, t) in texts)
        for teacher in _pick(keep, cfg.rationales_per_question, seed, f"r:{example_id}"):
            prompt = prompts.train_rationale_prompt(example, cfg.rationale_prompt)
            rationale_samples.append((example_id, teacher, prompt, texts[(example_id, teacher)]))
        if not cfg.use_feedback:
            continue
        wrong = mistake.get("student_completion") or mistake.get("student_prediction") or ""
        for teacher, text in _pick(
            sorted(notes.get(example_id, [])), cfg.rationales_per_question, seed, f"f:{example_id}"
        ):
            feedback_samples.append(
                (example_id, teacher, prompts.train_feedback_prompt(example, wrong), text)
            )
    alpha = cfg.alpha if cfg.use_feedback else 0.0
    if alpha == 0.0:
        feedback_samples = []
    if alpha == 1.0:
        rationale_samples = []
    weights = task_weights(len(feedback_samples), len(rationale_samples), alpha)
    samples = []
    for task, chosen in (("rationale", rationale_samples), ("feedback", feedback_samples)):
        for example_id, teacher, prompt, completion in chosen:
            samples.append(
                TrainSample(
                    sample_id=stable_hash([task, example_id, teacher, prompt, completion])[:16],
                    task=task,
                    prompt=prompt,
                    completion=completion.strip(),
                    weight=weights[task],
                    meta={"example_id": example_id, "teacher": teacher},
                )
            )
    return samples


def sample_rows(samples: Sequence[TrainSample]) -> list[dict[str, Any]]:
    """Rows of the `training_samples` table."""
    return [
        {
            "sample_id": s.sample_id,
            "task": s.task,
            "example_id": s.meta.get("example_id"),
            "teacher": s.meta.get("teacher"),
            "prompt": s.prompt,
            "completion": s.completion,
            "weight": s.weight,
        }
        for s in samples
    ]


def samples_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[TrainSample]:
    return [
        TrainSample(
            sample_id=r["sample_id"],
            task=r["task"],
            prompt=r["prompt"],
            completion=r["completion"],
            weight=r["weight"],
            meta={"example_id": r["example_id"], "teacher": r["teacher"]},
        )
        for r in rows
    ]
