"""The `fair-round` Prefect flow: student_k answers, the committee teaches and reviews, student_k+1 is
trained and evaluated; plus the round-level helpers the stage deployments share (flows/deployed.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow, tags

from fair_core.config import ConfigError, FairConfig
from fair_core.refs import ModelRef, RoundRef, TableRef
from fair_core.runs import accuracy_after, round_student, trained_student
from fair_core.store import RunStore
from fair_core.store.integrity import table_problem
from fair_core.training.tracking import track_round
from flows.dispatch import remote, run_on_pool
from tasks.committee import committee_stage
from tasks.evaluation import baseline_stage, evaluation_stage
from tasks.events import emit_round_completed
from tasks.inference import inference_stage, resolve_student
from tasks.naming import round_tags, run_flow_name
from tasks.report import summarize_round
from tasks.review import review_stage
from tasks.sharing import shared_stage
from tasks.training import training_stage

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
class RoundResult:
    """What a round hands to the next: the new student and the round's summary numbers."""

    round: int
    student: ModelRef
    summary: dict[str, Any]


def round_ref(config: FairConfig, round_index: int) -> RoundRef:
    """The round's folder; records the run's config (for `fair resume` and triggered rounds)."""
    where = RoundRef(config.run.data_dir, config.run_id(), round_index)
    data = config.model_dump(mode="json")
    where.store().set_meta(config_hash=config.config_hash(), config=data)
    RunStore(config.run.data_dir, config.run_id()).save_config(data)
    return where


def stage_table(where: RoundRef, name: str) -> TableRef:
    """A table an earlier stage wrote; a clear error naming that stage when it is missing or damaged."""
    store = where.store()
    stage = PRODUCERS.get(name, "earlier")
    problem = table_problem(store, name)
    if problem:
        raise ConfigError(f"{problem}; run the {stage} stage of this round again: it rebuilds the table")
    if not store.exists(name):
        raise ConfigError(
            f"run {where.run_id} round {where.round}: table {name!r} is missing; run the "
            f"{stage} stage of this round first"
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


def check_served(config: FairConfig) -> None:
    """With `simulator.enabled` every teacher must point at a running simulator (the entry point starts
    it); otherwise the requests would go to the real providers."""
    if config.simulator.enabled and not all(t.base_url for t in config.teachers):
        raise ConfigError(
            "simulator.enabled: start the run with run_pipeline(), `fair run` or the fair-pipeline "
            "deployment, which serve the simulated teachers (or set simulator.enabled: false)"
        )


@flow(name="fair-round", flow_run_name=run_flow_name(" round {round_index}"), log_prints=True)
def fair_round(
    config: FairConfig,
    round_index: int = 0,
    student: ModelRef | None = None,
    accuracy_before: float | None = None,
    refresh: bool = False,
    chain: bool = False,
    shared: RoundRef | None = None,
) -> RoundResult:
    """One FAIR round: infer -> mistakes -> feedback and rationales -> peer review -> training set ->
    fine-tune -> evaluate -> report. `student` is student_k (default: round k-1's student, or the base
    model).

    At the end it emits `fair.round.completed`; with `chain` (and rounds left) that event starts the next
    round through the round deployment's trigger. `shared` (round 0 of a sweep): another run's round 0
    whose student answers this run adopts instead of answering again (`tasks.sharing`).

    Its flow run is named '<run id> round <k>'; every task run carries the tags `<run id>` and
    `round:<k>` (and its stage, teacher and role: `tasks.naming`). A stage named in `stages.deployments`
    runs as a flow run of that deployment, on its work pool (`flows.dispatch`)."""
    check_served(config)
    where = round_ref(config, round_index)
    with tags(*round_tags(where)):
        return _round(config, where, student, accuracy_before, refresh, chain, shared)


def _round(
    config: FairConfig,
    where: RoundRef,
    student: ModelRef | None,
    accuracy_before: float | None,
    refresh: bool,
    chain: bool,
    shared: RoundRef | None,
) -> RoundResult:
    round_index = where.round
    current = starting_student(config, round_index, student)
    if shared is not None and round_index == 0 and shared != where:
        train, mistakes = shared_stage(where, shared)
    elif remote(config, "student-inference"):
        run_on_pool(config, where, "student-inference", student=current)
        train, mistakes = stage_table(where, "examples"), stage_table(where, "mistakes")
    else:
        baseline_stage(config, where, current)
        train, mistakes = inference_stage(config, where, current)
    if remote(config, "teacher-committee"):
        run_on_pool(config, where, "teacher-committee", refresh=refresh)
        feedback, rationales = stage_table(where, "feedback"), stage_table(where, "rationales")
        acceptance = stage_table(where, "acceptance")
    else:
        feedback, rationales = committee_stage(config, where, train, mistakes, refresh)
        acceptance = review_stage(config, where, train, rationales, refresh)
    if remote(config, "training"):
        run_on_pool(config, where, "training", student=current)
        trained = round_trained_student(config, round_index)
    else:
        trained = training_stage(config, where, current, train, mistakes, feedback, rationales, acceptance)
    if remote(config, "evaluation"):
        run_on_pool(config, where, "evaluation", student=trained)
    else:
        evaluation_stage(config, where, trained)
    if accuracy_before is None:
        accuracy_before = accuracy_after(config, round_index - 1)
    summary = summarize_round(where, [t.name for t in config.teachers], accuracy_before)
    track_round(config.training.report_to, where.store().path.parent, round_index, summary)  # report_to
    emit_round_completed(config, round_index, summary, chain)
    return RoundResult(round_index, trained, summary)
