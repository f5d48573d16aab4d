"""Flows behind the deployments: the pipeline, one round and each stage alone, with typed parameters for
the UI form.

Each entry flow (`run-*`) serves the simulated teachers when the config asks for it and runs its work as
a subflow whose task results persist under the run's folder, so a stage run alone, a round and the whole
pipeline share one cache (a retried run continues from the stage that failed). Serve them with
`fair serve`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from fair_core.config import FairConfig
from fair_core.config.sweep import SweepConfig
from fair_core.evaluation import accuracy
from fair_core.locks import run_lock
from fair_core.refs import ModelRef
from fair_core.runs import model_at, next_round
from flows.pipeline import fair_pipeline, results_dir
from flows.preflight import preflight
from flows.round import (
    check_served,
    fair_round,
    round_ref,
    round_trained_student,
    stage_table,
    starting_student,
)
from flows.simulation import simulated_teachers
from flows.sweep import run_sweep
from tasks.committee import committee_stage
from tasks.evaluation import baseline_stage, evaluation_stage
from tasks.inference import inference_stage, resolve_student
from tasks.review import review_stage
from tasks.training import training_stage


def _student(config: FairConfig, student_path: str | None, round_index: int) -> ModelRef | None:
    if not student_path:
        return None
    base = resolve_student(config.student, config.run.data_dir)
    return model_at(student_path, base, f"{config.student.model}@{round_index}:{student_path}")


def _round_index(config: FairConfig, round_index: int | None) -> int | None:
    if round_index is not None:
        return round_index
    due = next_round(config)
    if due is None:
        get_run_logger().info("run %s: all %d rounds are done", config.run_id(), config.run.rounds)
    return due


@flow(name="student-inference", flow_run_name="student-inference-round-{round_index}")
def student_inference(config: FairConfig, round_index: int, student: ModelRef | None = None) -> dict:
    where = round_ref(config, round_index)
    current = starting_student(config, round_index, student)
    baseline_stage(config, where, current)
    train, mistakes = inference_stage(config, where, current)
    return {"round": round_index, "examples": len(train.rows()), "mistakes": len(mistakes.rows())}


@flow(name="teacher-committee", flow_run_name="teacher-committee-round-{round_index}")
def teacher_committee(config: FairConfig, round_index: int, refresh: bool = False) -> dict:
    check_served(config)
    where = round_ref(config, round_index)
    train, mistakes = stage_table(where, "examples"), stage_table(where, "mistakes")
    _, rationales = committee_stage(config, where, train, mistakes, refresh)
    acceptance = review_stage(config, where, train, rationales, refresh)
    accepted = sum(bool(r["accepted"]) for r in acceptance.rows())
    return {"round": round_index, "rationales": len(rationales.rows()), "accepted": accepted}


@flow(name="training", flow_run_name="training-round-{round_index}")
def training(config: FairConfig, round_index: int, student: ModelRef | None = None) -> str:
    where = round_ref(config, round_index)
    committee = [stage_table(where, t) for t in ("feedback", "rationales", "acceptance")]
    train, mistakes = stage_table(where, "examples"), stage_table(where, "mistakes")
    current = starting_student(config, round_index, student)
    trained = training_stage(config, where, current, train, mistakes, *committee)
    return trained.adapter or trained.base


@flow(name="evaluation", flow_run_name="evaluation-round-{round_index}")
def evaluation(config: FairConfig, round_index: int, student: ModelRef | None = None) -> float | None:
    where = round_ref(config, round_index)
    table = evaluation_stage(config, where, student or round_trained_student(config, round_index))
    return accuracy(table.rows()) if table else None


Round = Annotated[int, Field(ge=0)]
#: The sweep form's default: the paper's ablations.
PAPER_ABLATION = SweepConfig(ablation="paper")


@contextmanager
def _entry(config: FairConfig, teachers: bool = True) -> Iterator[FairConfig]:
    """What every entry flow does first: the pre-run checks (`teachers`: with the committee's keys, SDKs
    and reply cache), the run's lock (waiting: a chained round may start while the last one ends), and
    the simulated teachers when configured; yields the config to run."""
    if teachers:
        preflight(config)
    with run_lock(config.run.data_dir, config.run_id(), wait=True):
        if not teachers:
            yield config
            return
        with simulated_teachers(config) as (served, _):
            yield served


@flow(name="run-pipeline", log_prints=True)
def run_fair_pipeline(config: FairConfig, refresh: bool = False) -> list[dict[str, Any]]:
    """All rounds of a FAIR run (finished stages and teacher replies of earlier attempts are reused).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        refresh: Ask every teacher request again (no reply cache).
    """
    with _entry(config) as served:
        return fair_pipeline(served, refresh)


@flow(name="run-round", log_prints=True)
def run_round(
    config: FairConfig,
    round_index: Annotated[int | None, Field(ge=0)] = None,
    student_path: str | None = None,
    chain: bool = False,
    refresh: bool = False,
) -> dict[str, Any] | None:
    """One FAIR round of a run (also what `fair.round.completed` and `fair.student.ready` trigger).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k (0-based). Empty: the first round of the run that has not finished.
        student_path: A student checkpoint folder (LoRA adapter or full model) to start from. Empty: round
            k-1's student, or the configured base model in round 0.
        chain: When the round ends, start the next one (until run.rounds).
        refresh: Ask every teacher request again (no reply cache).
    """
    with _entry(config) as served:
        k = _round_index(served, round_index)
        if k is None:
            return None
        student = _student(served, student_path, k)
        round_flow = fair_round.with_options(result_storage=results_dir(served))
        return round_flow(served, k, student, None, refresh, chain).summary


@flow(name="run-student-inference", log_prints=True)
def run_student_inference(
    config: FairConfig, round_index: Round = 0, student_path: str | None = None
) -> dict:
    """Stage 1 alone: student_k answers the training split; its mistakes are stored.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k: student_k answers the training split.
        student_path: A student checkpoint folder to start from. Empty: round k-1's student, or the base
            model in round 0.
    """
    with _entry(config, teachers=False):
        stage = student_inference.with_options(result_storage=results_dir(config))
        return stage(config, round_index, _student(config, student_path, round_index))


@flow(name="run-teacher-committee", log_prints=True)
def run_teacher_committee(config: FairConfig, round_index: Round = 0, refresh: bool = False) -> dict:
    """Stages 2 and 3 alone: feedback, rationales and peer review for round k's mistakes.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k (its student-inference stage must be done).
        refresh: Ask every teacher request again (no reply cache).
    """
    with _entry(config) as served:
        stage = teacher_committee.with_options(result_storage=results_dir(served))
        return stage(served, round_index, refresh)


@flow(name="run-training", log_prints=True)
def run_training(config: FairConfig, round_index: Round = 0, student_path: str | None = None) -> str:
    """Stage 4 alone: round k's training set, then student_k -> student_k+1 (resumes from checkpoints).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k (its teacher-committee stage must be done).
        student_path: The student to train. Empty: round k-1's student, or the base model in round 0.
    """
    with _entry(config, teachers=False):
        stage = training.with_options(result_storage=results_dir(config))
        return stage(config, round_index, _student(config, student_path, round_index))


@flow(name="run-evaluation", log_prints=True)
def run_evaluation(
    config: FairConfig, round_index: Round = 0, student_path: str | None = None
) -> float | None:
    """Stage 5 alone: a student on the test split; returns its accuracy.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k: evaluates the student it trained.
        student_path: Evaluate this checkpoint instead.
    """
    with _entry(config, teachers=False):
        stage = evaluation.with_options(result_storage=results_dir(config))
        return stage(config, round_index, _student(config, student_path, round_index))


@flow(name="run-sweep", log_prints=True)
def run_sweep_flow(
    config: FairConfig, sweep: SweepConfig = PAPER_ABLATION, refresh: bool = False
) -> dict[str, Any]:
    """A sweep: every variant of `sweep` over the base `config` as a subflow, round 0's student answers
    and every teacher request shared between the runs that ask the same, then the comparison report.

    Args:
        config: The base FAIR config (data, student, teachers, review, training, evaluation).
        sweep: The variants: a built-in ablation (paper, committee), explicit variants, varied settings
            and seeds; the reference variant; how many run at once.
        refresh: Ask every teacher request again (no reply cache).
    """
    return run_sweep(config, sweep, refresh, wait=True).result


#: Deployment name -> entry flow, as `fair serve` and deployments/prefect.yaml register them.
ENTRY_FLOWS = {
    "fair-pipeline": run_fair_pipeline,
    "fair-round": run_round,
    "fair-student-inference": run_student_inference,
    "fair-teacher-committee": run_teacher_committee,
    "fair-training": run_training,
    "fair-evaluation": run_evaluation,
    "fair-sweep": run_sweep_flow,
}
