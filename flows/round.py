"""The `fair-round` Prefect flow: student_k answers, the committee teaches, student_k+1 is trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import flow

from fair_core.config import FairConfig
from fair_core.refs import ModelRef
from fair_core.runs import accuracy_after
from flows.stages import (
    committee_stage,
    evaluation_stage,
    inference_stage,
    round_ref,
    starting_student,
    training_stage,
)
from tasks.events import emit_round_completed
from tasks.report import summarize_round


@dataclass(frozen=True)
class RoundResult:
    """What a round hands to the next: the new student and the round's summary numbers."""

    round: int
    student: ModelRef
    summary: dict[str, Any]


@flow(name="fair-round", flow_run_name="round-{round_index}", log_prints=True)
def fair_round(
    config: FairConfig,
    round_index: int = 0,
    student: ModelRef | None = None,
    accuracy_before: float | None = None,
    refresh: bool = False,
    chain: bool = False,
) -> RoundResult:
    """One FAIR round: infer -> mistakes -> feedback and rationales -> peer review -> training set ->
    fine-tune -> evaluate. `student` is student_k (default: round k-1's student, or the base model).

    At the end it emits `fair.round.completed`; with `chain` (and rounds left) that event starts the next
    round through the round deployment's trigger."""
    where = round_ref(config, round_index)
    current = starting_student(config, round_index, student)
    train, mistakes = inference_stage(config, where, current)
    committee = committee_stage(config, where, train, mistakes, refresh)
    trained = training_stage(config, where, current, train, mistakes, committee)
    evaluation_stage(config, where, trained)
    if accuracy_before is None:
        accuracy_before = accuracy_after(config, round_index - 1)
    summary = summarize_round(where, [t.name for t in config.teachers], accuracy_before)
    emit_round_completed(config, round_index, summary, chain)
    return RoundResult(round_index, trained, summary)
