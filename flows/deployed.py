"""Flows behind the deployments: the pipeline, one round and each stage alone with the whole config as a
typed form; the short form (`fair-run`, `fair-demo`) is in flows/short_form.py.

Each entry flow (`run-*`) serves the simulated teachers when the config asks for it and runs its work as
a subflow whose task results persist under the run's folder, so a stage run alone, a round and the whole
pipeline share one cache (a retried run continues from the stage that failed). Flow runs are named after
the FAIR run id (`<run id> round <k> training`, ...; `tasks.naming`). Serve them with `fair serve`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from prefect import flow, get_run_logger, tags

from fair_core.config import FairConfig
from fair_core.config.sweep import SweepConfig
from fair_core.evaluation import accuracy
from fair_core.refs import ModelRef
from fair_core.runs import model_at, next_round
from flows.entry import entry, titled
from flows.pipeline import fair_pipeline, results_dir
from flows.round import (
    check_served,
    fair_round,
    round_ref,
    round_trained_student,
    stage_table,
    starting_student,
)
from flows.short_form import run_fair
from flows.sweep import run_sweep
from tasks.committee import committee_stage
from tasks.evaluation import baseline_stage, evaluation_stage
from tasks.inference import inference_stage, resolve_student
from tasks.naming import run_flow_name
from tasks.review import review_stage
from tasks.training import training_stage

#: The form's parameters, with readable labels.
Config = titled(FairConfig, "Configuration")
Refresh = titled(bool, "Ask every teacher again (no reply cache)")
StudentPath = titled(str, "Student checkpoint folder")
Round = titled(int, "Round", ge=0)
NextRound = titled(int, "Round (-1: the next unfinished)", ge=-1)
Chain = titled(bool, "Chain the next rounds")
Sweep = titled(SweepConfig, "Sweep")


def _student(config: FairConfig, student_path: str | None, round_index: int) -> ModelRef | None:
    if not student_path:
        return None
    base = resolve_student(config.student, config.run.data_dir)
    return model_at(student_path, base, f"{config.student.model}@{round_index}:{student_path}")


def _round_index(config: FairConfig, round_index: int | None) -> int | None:
    if round_index is not None and round_index >= 0:
        return round_index
    due = next_round(config)
    if due is None:
        get_run_logger().info("run %s: all %d rounds are done", config.run_id(), config.run.rounds)
    return due


def stage_tags(config: FairConfig, round_index: int, *extra: str) -> AbstractContextManager[Any]:
    """The run id, `round:<k>` and any `extra` tags on the task runs started inside."""
    return tags(config.run_id(), f"round:{round_index}", *extra)


@flow(name="student-inference", flow_run_name=run_flow_name(" round {round_index} student inference"))
def student_inference(config: FairConfig, round_index: int, student: ModelRef | None = None) -> dict:
    where = round_ref(config, round_index)
    current = starting_student(config, round_index, student)
    with stage_tags(config, round_index):
        baseline_stage(config, where, current)
        train, mistakes = inference_stage(config, where, current)
    return {"round": round_index, "examples": len(train.rows()), "mistakes": len(mistakes.rows())}


@flow(name="teacher-committee", flow_run_name=run_flow_name(" round {round_index} teacher committee"))
def teacher_committee(config: FairConfig, round_index: int, refresh: bool = False) -> dict:
    check_served(config)
    where = round_ref(config, round_index)
    train, mistakes = stage_table(where, "examples"), stage_table(where, "mistakes")
    with stage_tags(config, round_index):
        _, rationales = committee_stage(config, where, train, mistakes, refresh)
        acceptance = review_stage(config, where, train, rationales, refresh)
    accepted = sum(bool(r["accepted"]) for r in acceptance.rows())
    return {"round": round_index, "rationales": len(rationales.rows()), "accepted": accepted}


@flow(name="training", flow_run_name=run_flow_name(" round {round_index} training"))
def training(config: FairConfig, round_index: int, student: ModelRef | None = None) -> str:
    where = round_ref(config, round_index)
    committee = [stage_table(where, t) for t in ("feedback", "rationales", "acceptance")]
    train, mistakes = stage_table(where, "examples"), stage_table(where, "mistakes")
    current = starting_student(config, round_index, student)
    with stage_tags(config, round_index):
        trained = training_stage(config, where, current, train, mistakes, *committee)
    return trained.adapter or trained.base


@flow(name="evaluation", flow_run_name=run_flow_name(" round {round_index} evaluation"))
def evaluation(config: FairConfig, round_index: int, student: ModelRef | None = None) -> float | None:
    where = round_ref(config, round_index)
    with stage_tags(config, round_index):
        table = evaluation_stage(config, where, student or round_trained_student(config, round_index))
    return accuracy(table.rows()) if table else None


#: The sweep form's default: the paper's ablations.
PAPER_ABLATION = SweepConfig(ablation="paper")


@flow(name="run-pipeline", flow_run_name=run_flow_name(" pipeline"), log_prints=True)
def run_fair_pipeline(config: Config, refresh: Refresh = False) -> list[dict[str, Any]]:
    """All rounds of a FAIR run (finished stages and teacher replies of earlier attempts are reused).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        refresh: Ask every teacher request again (no reply cache).
    """
    with entry(config) as served:
        return fair_pipeline(served, refresh)


@flow(name="run-round", flow_run_name=run_flow_name(" round {round_index}"), log_prints=True)
def run_round(
    config: Config,
    round_index: NextRound = -1,
    student_path: StudentPath = "",
    chain: Chain = False,
    refresh: Refresh = False,
) -> dict[str, Any] | None:
    """One FAIR round of a run (also what `fair.round.completed` and `fair.student.ready` trigger).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k (0-based). -1: the first round of the run that has not finished.
        student_path: A student checkpoint folder (LoRA adapter or full model) to start from. Empty: round
            k-1's student, or the configured base model in round 0.
        chain: When the round ends, start the next one (until run.rounds).
        refresh: Ask every teacher request again (no reply cache).
    """
    with entry(config) as served:
        k = _round_index(served, round_index)
        if k is None:
            return None
        student = _student(served, student_path, k)
        round_flow = fair_round.with_options(result_storage=results_dir(served))
        with tags(served.run_id(), f"round:{k}"):
            return round_flow(served, k, student, None, refresh, chain).summary


@flow(
    name="run-student-inference",
    flow_run_name=run_flow_name(" round {round_index} student inference"),
    log_prints=True,
)
def run_student_inference(config: Config, round_index: Round = 0, student_path: StudentPath = "") -> dict:
    """Stage 1 alone: student_k answers the training split; its mistakes are stored.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k: student_k answers the training split.
        student_path: A student checkpoint folder to start from. Empty: round k-1's student, or the base
            model in round 0.
    """
    with entry(config, teachers=False), stage_tags(config, round_index):
        stage = student_inference.with_options(result_storage=results_dir(config))
        return stage(config, round_index, _student(config, student_path, round_index))


@flow(
    name="run-teacher-committee",
    flow_run_name=run_flow_name(" round {round_index} teacher committee"),
    log_prints=True,
)
def run_teacher_committee(config: Config, round_index: Round = 0, refresh: Refresh = False) -> dict:
    """Stages 2 and 3 alone: feedback, rationales and peer review for round k's mistakes.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k (its student-inference stage must be done).
        refresh: Ask every teacher request again (no reply cache).
    """
    with entry(config) as served, stage_tags(config, round_index):
        stage = teacher_committee.with_options(result_storage=results_dir(served))
        return stage(served, round_index, refresh)


@flow(name="run-training", flow_run_name=run_flow_name(" round {round_index} training"), log_prints=True)
def run_training(config: Config, round_index: Round = 0, student_path: StudentPath = "") -> str:
    """Stage 4 alone: round k's training set, then student_k -> student_k+1 (resumes from checkpoints).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k (its teacher-committee stage must be done).
        student_path: The student to train. Empty: round k-1's student, or the base model in round 0.
    """
    with entry(config, teachers=False), stage_tags(config, round_index):
        stage = training.with_options(result_storage=results_dir(config))
        return stage(config, round_index, _student(config, student_path, round_index))


@flow(name="run-evaluation", flow_run_name=run_flow_name(" round {round_index} evaluation"), log_prints=True)
def run_evaluation(config: Config, round_index: Round = 0, student_path: StudentPath = "") -> float | None:
    """Stage 5 alone: a student on the test split; returns its accuracy.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        round_index: Round k: evaluates the student it trained.
        student_path: Evaluate this checkpoint instead.
    """
    with entry(config, teachers=False), stage_tags(config, round_index):
        stage = evaluation.with_options(result_storage=results_dir(config))
        return stage(config, round_index, _student(config, student_path, round_index))


@flow(name="run-sweep", flow_run_name="sweep of {config.run.name}", log_prints=True)
def run_sweep_flow(
    config: Config,
    sweep: Sweep = PAPER_ABLATION,
    refresh: Refresh = False,
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


#: Deployment name -> entry flow, as `fair serve` and deployments/prefect.yaml register them. The short
#: form (`run-fair`) is served twice: `fair-run` (real teachers) and `fair-demo` (the simulator).
ENTRY_FLOWS = {
    "fair-run": run_fair,
    "fair-demo": run_fair,
    "fair-pipeline": run_fair_pipeline,
    "fair-round": run_round,
    "fair-student-inference": run_student_inference,
    "fair-teacher-committee": run_teacher_committee,
    "fair-training": run_training,
    "fair-evaluation": run_evaluation,
    "fair-sweep": run_sweep_flow,
}
