"""The `fair-pipeline` Prefect flow (N FAIR rounds, round k+1 from round k's student) and `run_pipeline`,
which runs it from Python or the CLI: the preflight checks first, one run at a time (the run lock), the
offline simulator when the config asks."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.filesystems import RemoteFileSystem
from prefect.settings import PREFECT_API_URL

from fair_core.config import FairConfig
from fair_core.locks import run_lock
from fair_core.refs import RoundRef
from fair_core.store.location import absolute, as_path, is_remote
from flows.preflight import preflight
from flows.round import fair_round
from flows.simulation import simulated_teachers
from tasks.naming import run_flow_name
from tasks.report import summarize_run
from tasks.results import log_where, publish_results


def results_dir(config: FairConfig) -> Path | RemoteFileSystem:
    """Prefect's persisted task results of a run, beside its tables (deleting a run drops its cache too):
    a local folder, or on object storage a `RemoteFileSystem` block (`results_block`)."""
    folder = absolute(as_path(config.run.data_dir)) / "runs" / config.run_id() / "prefect-results"
    return results_block(str(folder), PREFECT_API_URL.value() or "") if is_remote(folder) else folder


@functools.lru_cache(maxsize=64)
def results_block(basepath: str, api_url: str) -> RemoteFileSystem:
    """A `RemoteFileSystem` block for `basepath`, saved on the Prefect server (a flow's result storage
    must be) as `fair-results-<hash of the path>`. It holds the path only: the workers' credentials come
    from their environment and never reach the server. `api_url` keys the cache (one save per server)."""
    block = RemoteFileSystem(basepath=basepath)
    block.save(f"fair-results-{hashlib.sha256(basepath.encode()).hexdigest()[:16]}", overwrite=True)
    return block


@flow(name="fair-pipeline", flow_run_name=run_flow_name(), log_prints=True)
def fair_pipeline(
    config: FairConfig, refresh: bool = False, shared: RoundRef | None = None
) -> list[dict[str, Any]]:
    """Run `config.run.rounds` FAIR rounds; finished stages of an earlier attempt come from the cache.

    Args:
        config: The FAIR config (data, student, teachers, review, training, evaluation).
        refresh: Ask every teacher request again (no reply cache).
        shared: In a sweep: the round 0 whose student answers this run adopts (`tasks.sharing`).

    Its flow run is named by the run id and each round's '<run id> round <k>' (tags `<run id>`,
    `round:<k>`); it ends with the HTML report, a link artifact to it and log lines saying where the
    results are (`tasks.results`).
    """
    run_id = config.run_id()
    round_flow = fair_round.with_options(result_storage=results_dir(config))
    student, accuracy, summaries = None, None, []
    for k in range(config.run.rounds):
        with tags(run_id, f"round:{k}"):
            result = round_flow(config, k, student, accuracy, refresh, shared=shared if k == 0 else None)
        student, accuracy = result.student, result.summary["test_accuracy_after"]
        summaries.append(result.summary)
    with tags(run_id):
        summarize_run(run_id, summaries)
        publish_results(config.run.data_dir, run_id)
    log_where(get_run_logger(), config.run.data_dir, run_id)
    return summaries


@dataclass
class PipelineRun:
    """Round summaries, and how many requests the simulator received (None: real providers)."""

    summaries: list[dict[str, Any]]
    simulator_requests: int | None = None


def run_pipeline(
    config: FairConfig, refresh: bool = False, wait: bool = False, checked: bool = False
) -> PipelineRun:
    """Check the config (`preflight`, unless `checked`: the caller did), take the run's lock (`RunLocked`
    if another process runs it; `wait`: until it is free), serve the simulated teachers if configured and
    run the `fair-pipeline` flow (`refresh`: re-ask every teacher request)."""
    if not checked:
        preflight(config)
    lock = run_lock(config.run.data_dir, config.run_id(), wait=wait)
    with lock, simulated_teachers(config) as (served, simulator):
        summaries = fair_pipeline(served, refresh)
        return PipelineRun(summaries, simulator.stats["requests"] if simulator else None)
