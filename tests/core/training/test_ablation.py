"""Each training-set switch changes the set as documented (README, "Training-set switches"), checked on the
paper code's SVAMP round-0 outputs: 387 mistakes, 3 teachers, feedback from all three for every mistake,
826 rationales accepted by peer review (Mixtral 319, GPT 286, Gemini 221) covering 365 questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fair_core.config import ReviewConfig, TrainingConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.review import select_rationales
from fair_core.store import RunStore
from fair_core.store.reference import import_reference
from fair_core.training.ablation import training_set_counts, training_set_settings
from fair_core.training.samples import build_training_samples, merge_rounds

QUESTIONS = 387


@pytest.fixture(scope="module")
def reference(shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = RunStore(tmp_path_factory.mktemp("reference"), "reference").round(0)
    import_reference(shared_datasets / "reference_round0", store)
    tables = {n: store.rows(n) for n in ("mistakes", "feedback", "rationales", "reviews")}
    tables["examples"] = {r["id"]: Example.from_row(r) for r in store.rows("examples")}
    return tables


def build(ref: dict[str, Any], review: ReviewConfig | None = None, **training: Any) -> list:
    review = review or ReviewConfig()
    acceptance = select_rationales(
        ref["rationales"],
        ref["reviews"],
        threshold=review.threshold,
        min_valid=review.min_valid_scores,
        require_gold=review.gold_check,
        review_enabled=review.enabled,
    )
    cfg = TrainingConfig(**training)
    return build_training_samples(
        ref["examples"],
        ref["mistakes"],
        ref["feedback"],
        ref["rationales"],
        acceptance,
        PromptSet(),
        cfg,
        0,
        0,
    )


def counts(samples: list) -> dict[str, Any]:
    return training_set_counts(samples)


def test_paper_default_one_rationale_and_one_feedback_per_question(reference: dict[str, Any]) -> None:
    c = counts(build(reference))
    # 22 questions have no accepted rationale; every mistake has feedback
    assert (c["rationale_samples"], c["feedback_samples"]) == (QUESTIONS - 22, QUESTIONS)
    assert c["questions_with_rationale"] == 365
    assert set(c["by_teacher"]["rationale"]) == {"gpt", "gemini", "mixtral"}  # a mixed committee
    assert c["weights"]["rationale"] == pytest.approx(0.5 * 752 / 365)
    assert c["weights"]["feedback"] == pytest.approx(0.5 * 752 / 387)


def test_all_accepted_rationales(reference: dict[str, Any]) -> None:
    c = counts(build(reference, rationales_per_question="all"))
    assert c["by_teacher"]["rationale"] == {"gemini": 221, "gpt": 286, "mixtral": 319}
    assert c["by_teacher"]["feedback"] == {"gemini": QUESTIONS, "gpt": QUESTIONS, "mixtral": QUESTIONS}


def test_one_teacher_keeps_only_its_rationales_and_feedback(reference: dict[str, Any]) -> None:
    c = counts(build(reference, teachers=["gpt"]))
    assert c["by_teacher"] == {"feedback": {"gpt": QUESTIONS}, "rationale": {"gpt": 286}}
    two = counts(build(reference, teachers=["gpt", "mixtral"], rationales_per_question="all"))
    assert two["by_teacher"]["rationale"] == {"gpt": 286, "mixtral": 319}


def test_peer_review_off_keeps_every_rationale(reference: dict[str, Any]) -> None:
    off = ReviewConfig(enabled=False)
    assert counts(build(reference, off))["rationale_samples"] == QUESTIONS  # one for every question
    c = counts(build(reference, off, rationales_per_question="all"))
    assert c["by_teacher"]["rationale"] == {"gemini": QUESTIONS, "gpt": QUESTIONS, "mixtral": QUESTIONS}


def test_gold_check_drops_rationales_with_a_wrong_final_answer(reference: dict[str, Any]) -> None:
    checked = build(reference, ReviewConfig(gold_check=True), rationales_per_question="all")
    c = counts(checked)
    assert c["by_teacher"]["rationale"] == {"gemini": 198, "gpt": 252, "mixtral": 213}
    gold_ok = {(r["example_id"], r["teacher"]): r["gold_ok"] for r in reference["rationales"]}
    assert all(gold_ok[(s.meta["example_id"], s.meta["teacher"])] for s in checked if s.task == "rationale")
    # without review, the gold check alone decides
    alone = counts(
        build(reference, ReviewConfig(enabled=False, gold_check=True), rationales_per_question="all")
    )
    assert alone["rationale_samples"] == sum(bool(v) for v in gold_ok.values()) == 728


def test_feedback_off_and_alpha_extremes(reference: dict[str, Any]) -> None:
    for samples in (build(reference, use_feedback=False), build(reference, alpha=0.0)):
        c = counts(samples)
        assert (c["rationale_samples"], c["feedback_samples"]) == (365, 0) and c["weights"] == {
            "rationale": 1.0
        }
    c = counts(build(reference, alpha=1.0))
    assert (c["rationale_samples"], c["feedback_samples"]) == (0, QUESTIONS) and c["weights"] == {
        "feedback": 1.0
    }


@pytest.mark.parametrize("alpha", [0.2, 0.5, 0.8])
def test_alpha_moves_weight_between_the_tasks(reference: dict[str, Any], alpha: float) -> None:
    samples = build(reference, alpha=alpha)
    n = len(samples)
    share = sum(s.weight for s in samples if s.task == "feedback") / n
    assert share == pytest.approx(alpha)  # alpha of the objective on feedback, 1 - alpha on rationales
    assert sum(s.weight for s in samples) == pytest.approx(n)


def test_cumulative_adds_earlier_rounds_without_duplicates(reference: dict[str, Any]) -> None:
    round0 = build(reference)
    # round 1: the student is still wrong on 100 questions, with new wrong answers (new feedback prompts);
    # the teachers' rationales come back from the cache, identical
    still_wrong = [
        dict(m, student_completion=f"{m['student_completion']} (again)") for m in reference["mistakes"][:100]
    ]
    cfg = TrainingConfig()
    acceptance = select_rationales(reference["rationales"], reference["reviews"])
    round1 = build_training_samples(
        reference["examples"], still_wrong, reference["feedback"], reference["rationales"], acceptance,
        PromptSet(), cfg, 0, source_round=1,
    )  # fmt: skip
    merged = merge_rounds(round1, [round0], alpha=0.5)
    c = training_set_counts(merged, round1, round_index=1)
    repeated = {s.sample_id for s in round0} & {s.sample_id for s in round1}
    assert len(repeated) == sum(s.task == "rationale" for s in round1)  # every rationale sample is known
    assert c["samples"] == len(round0) + len(round1) - len(repeated)
    assert c["by_round"] == {"0": len(round0), "1": 100}  # the 100 new feedback samples
    assert c["duplicates_dropped"] == len(repeated) and c["from_earlier_rounds"] == len(round0)
    assert sum(s.weight for s in merged) == pytest.approx(len(merged))
    share = sum(s.weight for s in merged if s.task == "feedback") / len(merged)
    assert share == pytest.approx(0.5)  # alpha holds over the union


def test_settings_record_every_switch() -> None:
    settings = training_set_settings(
        TrainingConfig(teachers=["gpt"], data="cumulative", alpha=0.3), ReviewConfig(enabled=False)
    )
    assert settings == {
        "teachers": ["gpt"],
        "use_feedback": True,
        "alpha": 0.3,
        "rationales_per_question": "one",
        "feedback_without_rationale": "keep",
        "single_teacher_review": "keep",
        "data": "cumulative",
        "rationale_prompt": "instruction",
        "peer_review": False,
        "review_threshold": 3.0,
        "min_valid_scores": 1,
        "gold_check": False,
        "aggregation": "mean",
        "reviewers_per_rationale": "all others",
        "show_author": False,
    }
    assert training_set_settings(TrainingConfig())["teachers"] == "mixed"
