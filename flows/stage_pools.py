"""The flows a round's stages run on other work pools (`stages.deployments`; flows/dispatch.py starts them).

Each does only its stage, as a subflow whose task results persist beside the run's tables, so a stage
retried on another worker continues from what the first one finished: no pre-run checks, lock or
simulator of its own (the round that started it holds those). Deploy them with deployments/pools.yaml
(README, "Stages on work pools"); `STAGE_FLOWS` in fair_core/config/stages.py names them.
"""

from __future__ import annotations

from prefect import flow

from fair_core.config import FairConfig
from fair_core.refs import ModelRef
from flows.deployed import evaluation, stage_tags, student_inference, teacher_committee, training
from flows.pipeline import results_dir
from tasks.naming import run_flow_name

#: The tag of every flow run a stage flow starts (deployments/crashed-stages.yaml watches it): the stage
#: subflow inside a stage flow run dies with it and is marked Crashed with it.
WATCHED_TAG = "fair-stage"


@flow(
    name="stage-student-inference",
    flow_run_name=run_flow_name(" round {round_index} student inference"),
    log_prints=True,
)
def stage_student_inference(config: FairConfig, round_index: int, student: ModelRef | None = None) -> dict:
    """Student inference of a round, started by the round (`stages.deployments`)."""
    with stage_tags(config, round_index, WATCHED_TAG, "stage:student-inference"):
        stage = student_inference.with_options(result_storage=results_dir(config))
        return stage(config, round_index, student)


@flow(
    name="stage-teacher-committee",
    flow_run_name=run_flow_name(" round {round_index} teacher committee"),
    log_prints=True,
)
def stage_teacher_committee(config: FairConfig, round_index: int, refresh: bool = False) -> dict:
    """The committee (feedback, rationales, peer review) of a round, started by the round."""
    with stage_tags(config, round_index, WATCHED_TAG, "stage:teacher-committee"):
        stage = teacher_committee.with_options(result_storage=results_dir(config))
        return stage(config, round_index, refresh)


@flow(name="stage-training", flow_run_name=run_flow_name(" round {round_index} training"), log_prints=True)
def stage_training(config: FairConfig, round_index: int, student: ModelRef | None = None) -> str:
    """The training set and fine-tuning of a round, started by the round."""
    with stage_tags(config, round_index, WATCHED_TAG, "stage:training"):
        stage = training.with_options(result_storage=results_dir(config))
        return stage(config, round_index, student)


@flow(
    name="stage-evaluation", flow_run_name=run_flow_name(" round {round_index} evaluation"), log_prints=True
)
def stage_evaluation(config: FairConfig, round_index: int, student: ModelRef | None = None) -> float | None:
    """The trained student of a round on the test split, started by the round."""
    with stage_tags(config, round_index, WATCHED_TAG, "stage:evaluation"):
        stage = evaluation.with_options(result_storage=results_dir(config))
        return stage(config, round_index, student)
