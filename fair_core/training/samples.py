"""Build the two-task FAIR training set from a round's tables, with alpha folded into sample weights."""

from __future__ import annotations

import dataclasses
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
    source_round: int | None = None,
) -> list[TrainSample]:
    """Learn-from-the-gold-rationale samples (question -> an accepted rationale) and learn-from-own-mistakes
    samples (question + wrong answer + correct answer -> a teacher's feedback) for every mistake.

    `cfg.teachers` (when set) keeps only those teachers' rationales and feedback, the accepted ones, or
    with `cfg.single_teacher_review` "skip" every parsed one; `cfg.feedback_without_rationale` "drop" leaves
    out the feedback of a question with no rationale to learn from; `source_round` is stored
    in each sample's meta ("round") so a cumulative set knows where every sample came from."""
    allowed = set(cfg.teachers) if cfg.teachers else None

    def keep_teacher(name: str) -> bool:
        return allowed is None or name in allowed

    texts = {(r["example_id"], r["teacher"]): r["text"] for r in rationales if r.get("text")}
    if allowed is not None and cfg.single_teacher_review == "skip":  # parsed, whatever the review said
        accepted = {
            (r["example_id"], r["teacher"])
            for r in rationales
            if r.get("text") and r.get("status", "ok") == "ok" and keep_teacher(r["teacher"])
        }
    else:
        accepted = {
            (a["example_id"], a["teacher"])
            for a in acceptance
            if a["accepted"] and keep_teacher(a["teacher"])
        }
    notes: dict[str, list[tuple[str, str]]] = {}
    for row in feedback:
        if row.get("text") and row.get("status", "ok") == "ok" and keep_teacher(row["teacher"]):
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
        if not cfg.use_feedback or (not keep and cfg.feedback_without_rationale == "drop"):
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
    origin = {} if source_round is None else {"round": str(source_round)}
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
                    meta={"example_id": example_id, "teacher": teacher, **origin},
                )
            )
    return samples


def reweight(samples: Sequence[TrainSample], alpha: float) -> list[TrainSample]:
    """The same samples with the alpha weights recomputed over this set (after merging rounds)."""
    counts = {t: sum(s.task == t for s in samples) for t in ("feedback", "rationale")}
    weights = task_weights(counts["feedback"], counts["rationale"], alpha)
    return [dataclasses.replace(s, weight=weights[s.task]) for s in samples]


def merge_rounds(
    current: Sequence[TrainSample], earlier: Sequence[Sequence[TrainSample]], alpha: float
) -> list[TrainSample]:
    """The cumulative set: earlier rounds' samples (oldest first) plus this round's, one per sample_id
    (the earliest copy wins, so each sample keeps the round it first came from), reweighted over the union.
    A sample id hashes task, question, teacher, prompt and completion, so a rationale served again from
    the teacher cache in a later round is the same sample."""
    merged: dict[str, TrainSample] = {}
    for group in [*earlier, current]:
        for sample in group:
            merged.setdefault(sample.sample_id, sample)
    return reweight(list(merged.values()), alpha)


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
            "source_round": int(s.meta["round"]) if "round" in s.meta else None,
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
            meta={"example_id": r["example_id"], "teacher": r["teacher"]}
            | ({} if r.get("source_round") is None else {"round": str(r["source_round"])}),
        )
        for r in rows
    ]
