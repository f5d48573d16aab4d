"""The four stages of a FAIR round (called inside a flow): student inference, committee, training, evaluation.

`fair_round` calls them in order; `flows/deployed.py` runs each alone as a deployment, reading the earlier
stages' tables from the store (`stage_table`), so a stage run alone and the same stage inside a round share
Prefect's cache keys (tables are fingerprinted by content).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prefect import get_run_logger
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff

from fair_core.config import ConfigError, FairConfig
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from fair_core.runs import round_student, trained_student
from fair_core.store import RunStore
from fair_core.students.base import GenerationParams
from tasks.committee import TeacherUnavailable, ask_teacher, assemble_committee, review_rationales, select
from tasks.data import prepare_examples
from tasks.student import answer_table, collect_mistakes, resolve_student
from tasks.training import build_training_set, earlier_training_sets, fine_tune

#: Which stage writes each table a later stage reads (for the error when a stage runs too early).
PRODUCERS = {
    "examples": "student-inference",
    "test_examples": "student-inference",
    "student_outputs": "student-inference",
    "mistakes": "student-inference",
    "feedback": "teacher-committee",
    "rationales": "teacher-committee",
    "acceptance": "teacher-committee",
}


@dataclass(frozen=True)
class Committee:
    """What the committee stage hands to training."""

    feedback: TableRef
    rationales: TableRef
    acceptance: TableRef


def round_ref(config: FairConfig, round_index: int) -> RoundRef:
    """The round's folder; records the run's config (for `fair resume` and triggered rounds)."""
    where = RoundRef(config.run.data_dir, config.run_id(), round_index)
    data = config.model_dump(mode="json")
    where.store().set_meta(config_hash=config.config_hash(), config=data)
    RunStore(config.run.data_dir, config.run_id()).save_config(data)
    return where


def stage_table(where: RoundRef, name: str) -> TableRef:
    """A table an earlier stage wrote; a clear error naming that stage when it is missing."""
    if not where.store().exists(name):
        raise ConfigError(
            f"run {where.run_id} round {where.round}: table {name!r} is missing; run the "
            f"{PRODUCERS.get(name, 'earlier')} stage of this round first"
        )
    return where.table(name)


def starting_student(config: FairConfig, round_index: int, student: ModelRef | None = None) -> ModelRef:
    """student_k: the given model, else round k-1's trained student, else the configured base model."""
    if student is not None:
        return student
    base = resolve_student(config.student, config.run.data_dir)
    return round_student(config, round_index, base)


def round_trained_student(config: FairConfig, round_index: int) -> ModelRef:
    """student_k+1 as round k's training stage left it on disk."""
    return trained_student(config, round_index, resolve_student(config.student, config.run.data_dir))


def generation_params(config: FairConfig, evaluation: bool) -> GenerationParams:
    ev = config.evaluation
    budget = (ev.max_new_tokens if evaluation else None) or config.student.max_new_tokens
    return GenerationParams(
        max_new_tokens=budget,
        greedy=ev.greedy,
        temperature=ev.temperature,
        top_p=ev.top_p,
        seed=config.run.seed if ev.seed is None else ev.seed,
        stop=tuple(config.student.stop),
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


def shard_count(config: FairConfig, requests: int) -> int:
    """Prefect tasks per teacher and role: `run.teacher_task_size` requests each (at least one task)."""
    size = config.run.teacher_task_size
    return max(1, math.ceil(requests / size)) if size else 1


def inference_stage(config: FairConfig, where: RoundRef, student: ModelRef) -> tuple[TableRef, TableRef]:
    """student_k answers the training split (and, in round 0, the baseline on the test split).

    Returns the training examples and the mistakes."""
    prompts = PromptsRef(config.prompts.template_dir)
    train = prepare_examples(config.dataset, config.dataset.train_split, where, "examples")
    test = prepare_examples(config.dataset, config.dataset.test_split, where, "test_examples")
    if where.round == 0 and config.evaluation.enabled and config.evaluation.baseline:
        params = generation_params(config, True)
        answer_table(config.student, student, test, prompts, params, where, "baseline_evaluation")
    params = generation_params(config, False)
    outputs = answer_table(config.student, student, train, prompts, params, where, "student_outputs")
    return train, collect_mistakes(outputs, where)


def committee_stage(
    config: FairConfig, where: RoundRef, train: TableRef, mistakes: TableRef, refresh: bool = False
) -> Committee:
    """Feedback and rationales from every teacher (tasks of teacher x role x shard), then peer review."""
    prompts = PromptsRef(config.prompts.template_dir)
    # --refresh re-asks every teacher request: the engine skips the reply cache, Prefect the task cache
    retry: dict = {
        "retries": config.run.teacher_task_retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=config.run.teacher_task_retry_delay_s),
    }
    if refresh:
        retry["refresh_cache"] = True
    ask = ask_teacher.with_options(**retry)
    review = review_rationales.with_options(**retry)
    budget = config.run.budget_usd
    shards = shard_count(config, len(mistakes.rows()))
    committee = [
        ask.submit(t, role, train, mistakes, prompts, where, refresh, budget, shard, shards)
        for role in ("feedback", "rationale")
        for t in config.teachers
        for shard in range(shards)
    ]
    feedback, rationales = assemble_committee(available(committee, "committee"), train, where)

    reviewers = config.teachers if config.review.enabled else []
    # each reviewer grades the other teachers' rationales: about (n-1)/n of them
    per_reviewer = len(rationales.rows()) * (len(reviewers) - 1) // max(1, len(reviewers))
    shards = shard_count(config, per_reviewer)
    reviews = [
        review.submit(t, train, rationales, prompts, where, refresh, budget, shard, shards)
        for t in reviewers
        for shard in range(shards)
    ]
    _, acceptance = select(config.review, rationales, available(reviews, "peer review"), where)
    return Committee(feedback, rationales, acceptance)


def training_stage(
    config: FairConfig,
    where: RoundRef,
    student: ModelRef,
    train: TableRef,
    mistakes: TableRef,
    committee: Committee,
) -> ModelRef:
    """The round's training set (accepted rationales + feedback), then student_k -> student_k+1."""
    samples = build_training_set(
        config.training,
        config.run.seed,
        train,
        mistakes,
        committee.feedback,
        committee.rationales,
        committee.acceptance,
        PromptsRef(config.prompts.template_dir),
        where,
        review=config.review,
        earlier=earlier_training_sets(where, config.training),  # data=cumulative: earlier rounds' sets
    )
    return fine_tune(config.training, config.student, student, samples, config.run.seed, where)


def evaluation_stage(config: FairConfig, where: RoundRef, trained: ModelRef) -> TableRef | None:
    """student_k+1 on the test split (when evaluation is enabled)."""
    if not config.evaluation.enabled:
        return None
    prompts = PromptsRef(config.prompts.template_dir)
    test = prepare_examples(config.dataset, config.dataset.test_split, where, "test_examples")
    params = generation_params(config, True)
    return answer_table(config.student, trained, test, prompts, params, where, "evaluation")
