"""The `fair-pipeline` Prefect flow: N FAIR rounds, round k+1 starting from round k's student."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from fair_core.config import FairConfig
from flows.round import fair_round
from tasks.report import summarize_run


def results_dir(config: FairConfig) -> Path:
    """Prefect's persisted task results of a run, beside its tables (deleting a run drops its cache too)."""
    return Path(config.run.data_dir).expanduser().resolve() / "runs" / config.run_id() / "prefect-results"


@flow(name="fair-pipeline", log_prints=True)
def fair_pipeline(config: FairConfig) -> list[dict[str, Any]]:
    """Run `config.run.rounds` FAIR rounds; finished stages of an earlier attempt come from the cache."""
    round_flow = fair_round.with_options(result_storage=results_dir(config))
    student, accuracy, summaries = None, None, []
    for k in range(config.run.rounds):
        result = round_flow(config, k, student, accuracy)
        student, accuracy = result.student, result.summary["test_accuracy_after"]
        summaries.append(result.summary)
    summarize_run(config.run_id(), summaries)
    return summaries
