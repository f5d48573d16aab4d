"""The two-task training set: which samples exist, their prompts, and alpha folded into weights."""

from __future__ import annotations

import pytest

from fair_core.config import TrainingConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.training.samples import build_training_samples, sample_rows, samples_from_rows, task_weights

EXAMPLES = {
    "q1": Example("q1", "svamp", "Tom has 3 apples and buys 2. How many?", "5"),
    "q2": Example("q2", "svamp", "Ann has 10 pens and loses 4. How many?", "6"),
}
MISTAKES = [
    {"example_id": "q1", "student_completion": "3 + 2 = 6", "student_prediction": "6", "gold": "5"},
    {"example_id": "q2", "student_completion": "10 - 4 = 5", "student_prediction": "5", "gold": "6"},
]
FEEDBACK = [
    {"example_id": "q1", "teacher": t, "status": "ok", "text": f"{t}: 3 + 2 is 5, not 6."} for t in ("a", "b")
] + [{"example_id": "q2", "teacher": "a", "status": "error", "text": None}]
RATIONALES = [
    {"example_id": e, "teacher": t, "status": "ok", "text": f"{t} solves {e}. The answer is X."}
    for e in ("q1", "q2")
    for t in ("a", "b", "c")
]
ACCEPTED = {("q1", "a"), ("q1", "c"), ("q2", "b")}
ACCEPTANCE = [
    {
        "example_id": r["example_id"],
        "teacher": r["teacher"],
        "accepted": (r["example_id"], r["teacher"]) in ACCEPTED,
    }
    for r in RATIONALES
]


def build(**overrides: object) -> list:
    cfg = TrainingConfig(**overrides)
    return build_training_samples(
        EXAMPLES, MISTAKES, FEEDBACK, RATIONALES, ACCEPTANCE, PromptSet(), cfg, seed=1
    )


def test_one_accepted_rationale_and_one_feedback_per_mistake() -> None:
    samples = build()
    rationale = [s for s in samples if s.task == "rationale"]
    feedback = [s for s in samples if s.task == "feedback"]
    assert sorted(s.meta["example_id"] for s in rationale) == ["q1", "q2"]
    assert all((s.meta["example_id"], s.meta["teacher"]) in ACCEPTED for s in rationale)
    assert [s.meta["example_id"] for s in feedback] == ["q1"]  # q2 has no usable feedback
    assert build() == samples  # the sampled rationale is deterministic for a seed


def test_all_accepted_rationales() -> None:
    samples = build(rationales_per_question="all")
    pairs = {(s.meta["example_id"], s.meta["teacher"]) for s in samples if s.task == "rationale"}
    assert pairs == ACCEPTED
    assert sum(s.task == "feedback" for s in samples) == 2


def test_prompts_carry_the_question_wrong_answer_and_gold() -> None:
    samples = build()
    feedback = next(s for s in samples if s.task == "feedback")
    assert "3 + 2 = 6" in feedback.prompt and "Correct answer: 5" in feedback.prompt
    assert "### Instruction:" in feedback.prompt and feedback.completion.startswith(feedback.meta["teacher"])
    rationale = next(s for s in samples if s.task == "rationale")
    assert (
        "### Instruction:" in rationale.prompt
        and EXAMPLES[rationale.meta["example_id"]].question in rationale.prompt
    )
    own = next(s for s in build(rationale_prompt="student") if s.task == "rationale")
    assert own.prompt == PromptSet().student(EXAMPLES[own.meta["example_id"]])


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 1.0])
def test_weights_make_the_alpha_objective(alpha: float) -> None:
    samples = build(rationales_per_question="all", alpha=alpha)
    n = len(samples)
    assert sum(s.weight for s in samples) == pytest.approx(n)
    fb = [s for s in samples if s.task == "feedback"]
    ra = [s for s in samples if s.task == "rationale"]
    if 0 < alpha < 1:
        # mean over samples of w_i * L_i == alpha * mean L_feedback + (1 - alpha) * mean L_rationale
        loss = {"feedback": 2.0, "rationale": 6.0}
        weighted = sum(s.weight * loss[s.task] for s in samples) / n
        assert weighted == pytest.approx(alpha * 2.0 + (1 - alpha) * 6.0)
    elif alpha == 0:
        assert not fb and all(s.weight == 1 for s in ra)
    else:
        assert not ra and all(s.weight == 1 for s in fb)


def test_feedback_off_and_task_weights_edge_cases() -> None:
    assert all(s.task == "rationale" for s in build(use_feedback=False))
    assert task_weights(0, 5, 0.5) == {"feedback": 1.0, "rationale": 1.0}
    assert task_weights(1, 3, 0.5) == {"feedback": 2.0, "rationale": pytest.approx(2 / 3)}


def test_rows_round_trip() -> None:
    samples = build(rationales_per_question="all")
    assert samples_from_rows(sample_rows(samples)) == samples
