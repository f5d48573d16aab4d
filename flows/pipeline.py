"""The `fair-pipeline` Prefect flow: N FAIR rounds, round k+1 starting from round k's student."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from fair_core.config import FairConfig
from flows.round import fair_round
from flows.runner import simulated_teachers
from tasks.report import summarize_run


def results_dir(config: FairConfig) -> Path:
    """Prefect's persisted task results of a run, beside its tables (deleting a run drops its cache too)."""
    return Path(config.run.data_dir).expanduser().resolve() / "runs" / config.run_id() / "prefect-results"


@flow(name="fair-pipeline", log_prints=True)
def fair_pipeline(config: FairConfig, refresh: bool = False) -> list[dict[str, Any]]:
    """Run `config.run.rounds` FAIR rounds; finished stages of an earlier attempt come from the cache.

    `refresh` re-asks every teacher request (replies and teacher tasks are not taken from any cache).
    With `simulator.enabled` the teachers are served by the local simulator (started here unless the
    caller already runs one for this run).

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        refresh: Ask every teacher request again (no reply cache).
    """
    with simulated_teachers(config) as (effective, _):
        round_flow = fair_round.with_options(result_storage=results_dir(effective))
        student, accuracy, summaries = None, None, []
        for k in range(effective.run.rounds):
            result = round_flow(effective, k, student, accuracy, refresh)
            student, accuracy = result.student, result.summary["test_accuracy_after"]
            summaries.append(result.summary)
        summarize_run(effective.run_id(), summaries)
        return summaries
