"""The validation split: a share of the questions held out, every sample of a question on the same side."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fair_core.hashing import stable_hash
from fair_core.records import TrainSample


def question_of(sample: TrainSample) -> str:
    """The question a sample belongs to (its example id; the sample id when it has none)."""
    return sample.meta.get("example_id") or sample.sample_id


def split_by_example(
    samples: Sequence[TrainSample], fraction: float, seed: int
) -> tuple[list[TrainSample], list[TrainSample]]:
    """(train, validation): round(fraction x questions) questions, at least one when fraction > 0 and
    there are two or more questions, ranked by a seeded hash of the question id (so the draw does not
    depend on the order of the samples); all samples of a held-out question go to validation; order kept."""
    questions = sorted({question_of(s) for s in samples})
    if fraction <= 0 or len(questions) < 2:
        return list(samples), []
    count = min(max(1, math.floor(fraction * len(questions) + 0.5)), len(questions) - 1)
    ranked = sorted(questions, key=lambda q: stable_hash(["validation", seed, q]))
    held_out = set(ranked[:count])
    train = [s for s in samples if question_of(s) not in held_out]
    validation = [s for s in samples if question_of(s) in held_out]
    return train, validation
