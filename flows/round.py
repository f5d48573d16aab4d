"""The `fair-round` Prefect flow: student_k answers, the committee teaches, student_k+1 is trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture

from fair_core.config import FairConfig
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.students.base import GenerationParams
from tasks.committee import (
    TeacherUnavailable,
    ask_teacher,
    assemble_committee,
    review_rationales,
    select,
)
from tasks.data import prepare_examples
from tasks.report import summarize_round
from tasks.student import collect_mistakes, resolve_student, student_answers
from tasks.training import build_training_set, fine_tune


@dataclass(frozen=True)
class RoundResult:
    """What a round hands to the next: the new student and the round's summary numbers."""

    round: int
    student: ModelRef
    summary: dict[str, Any]


def generation_params(config: FairConfig, evaluation: bool) -> GenerationParams:
    ev = config.evaluation
    budget = (ev.max_new_tokens if evaluation else None) or config.student.max_new_tokens
    return GenerationParams(
        max_new_tokens=budget, greedy=ev.greedy, temperature=ev.temperature, seed=config.run.seed
    )


def available(futures: list[PrefectFuture], what: str) -> list[TableRef]:
    """Results of teacher batches; an unavailable teacher (bad key, no access) is left out, and said so."""
    refs = []
    for future in futures:
        outcome = future.result(raise_on_failure=False)
        if isinstance(outcome, TeacherUnavailable):
            get_run_logger().error("%s: %s; the round goes on with the other teachers", what, outcome)
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        refs.append(outcome)
    return refs


@flow(name="fair-round", flow_run_name="round-{round_index}", log_prints=True)
def fair_round(
    config: FairConfig,
    round_index: int = 0,
    student: ModelRef | None = None,
    accuracy_before: float | None = None,
) -> RoundResult:
    """One FAIR round: infer -> mistakes -> feedback and rationales -> peer review -> training set ->
    fine-tune -> evaluate. `student` is student_k (default: the configured base model)."""
    where = RoundRef(config.run.data_dir, config.run_id(), round_index)
    where.store().set_meta(config_hash=config.config_hash(), config=config.model_dump(mode="json"))
    prompts = PromptsRef(config.prompts.template_dir)
    teachers = config.teachers
    current = student or resolve_student(config.student, config.run.data_dir)
    train = prepare_examples(config.dataset, config.dataset.train_split, where, "examples")
    test = prepare_examples(config.dataset, config.dataset.test_split, where, "test_examples")
    if round_index == 0 and config.evaluation.enabled and config.evaluation.baseline:
        student_answers(
            config.student,
            current,
            test,
            prompts,
            generation_params(config, True),
            where,
            "baseline_evaluation",
        )

    outputs = student_answers(
        config.student, current, train, prompts, generation_params(config, False), where, "student_outputs"
    )
    mistakes = collect_mistakes(outputs, where)

    committee = [
        ask_teacher.submit(t, role, train, mistakes, prompts, where)
        for role in ("feedback", "rationale")
        for t in teachers
    ]
    feedback, rationales = assemble_committee(available(committee, "committee"), train, where)

    reviewers = teachers if config.review.enabled else []
    reviews = [review_rationales.submit(t, train, rationales, prompts, where) for t in reviewers]
    _, acceptance = select(config.review, rationales, available(reviews, "peer review"), where)

    samples = build_training_set(
        config.training, config.run.seed, train, mistakes, feedback, rationales, acceptance, prompts, where
    )
    trained = fine_tune(config.training, config.student, current, samples, config.run.seed, where)
    if config.evaluation.enabled:
        student_answers(
            config.student, trained, test, prompts, generation_params(config, True), where, "evaluation"
        )
    summary = summarize_round(where, [t.name for t in teachers], accuracy_before)
    return RoundResult(round_index, trained, summary)
