"""The training-set switches of a round (the paper's ablations) and the counts they produce, as recorded in
the round manifest and the model card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from fair_core.config import ReviewConfig, TrainingConfig
from fair_core.records import TrainSample
from fair_core.review_plan import review_settings


def effective_alpha(cfg: TrainingConfig) -> float:
    """alpha as applied: 0 when the feedback task is off."""
    return cfg.alpha if cfg.use_feedback else 0.0


def training_set_settings(training: TrainingConfig, review: ReviewConfig | None = None) -> dict[str, Any]:
    """Every switch that decides which samples a round trains on (README, "Training-set switches")."""
    settings: dict[str, Any] = {
        "teachers": list(training.teachers) if training.teachers else "mixed",
        "use_feedback": training.use_feedback,
        "alpha": training.alpha,
        "rationales_per_question": training.rationales_per_question,
        "feedback_without_rationale": training.feedback_without_rationale,
        "single_teacher_review": training.single_teacher_review,
        "data": training.data,
        "rationale_prompt": training.rationale_prompt,
    }
    if review is not None:
        settings |= review_settings(review)
    return settings


def training_set_counts(
    samples: Sequence[TrainSample], own: Sequence[TrainSample] | None = None, round_index: int | None = None
) -> dict[str, Any]:
    """Samples per task, per teacher and task, per source round; questions covered; the task weights.
    With `own` (this round's samples before a cumulative merge) and `round_index`: how many of them were
    new and how many were already in an earlier round's set (dropped as duplicates)."""
    by_task = Counter(s.task for s in samples)
    by_teacher: dict[str, dict[str, int]] = {}
    for (task, teacher), n in sorted(Counter((s.task, s.meta.get("teacher", "")) for s in samples).items()):
        by_teacher.setdefault(task, {})[teacher] = n
    counts: dict[str, Any] = {
        "samples": len(samples),
        "rationale_samples": by_task.get("rationale", 0),
        "feedback_samples": by_task.get("feedback", 0),
        "questions": len({s.meta.get("example_id") for s in samples}),
        "questions_with_rationale": len({s.meta.get("example_id") for s in samples if s.task == "rationale"}),
        "by_teacher": by_teacher,
        "by_round": dict(sorted(Counter(s.meta.get("round", "-") for s in samples).items())),
        "weights": {s.task: s.weight for s in samples},
    }
    if own is not None and round_index is not None:
        new = sum(s.meta.get("round") == str(round_index) for s in samples)
        counts |= {
            "this_round_samples": len(own),
            "from_earlier_rounds": len(samples) - new,
            "duplicates_dropped": len(own) - new,
        }
    return counts
