"""One FAIR round with its submitted tasks (student shards, teacher and review batches) on a Dask cluster:
`python -m deployments.run_dask -c demo --workers 4 --set student.shards=4` (needs the `dask` extra)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands import DataDirOption, fail, guarded, load
from flows.settings import prefect_defaults

if TYPE_CHECKING:
    from prefect_dask import DaskTaskRunner

    from fair_core.config import FairConfig
    from flows.round import RoundResult

#: The environment variable naming an existing cluster's scheduler (what `--address` gives).
ADDRESS_ENV = "FAIR_DASK_ADDRESS"


def dask_runner(address: str | None = None, workers: int = 2) -> DaskTaskRunner:
    """The task runner: the scheduler at `address` (one GPU per worker there), else a local cluster of
    `workers` processes with one thread each (a process per task: no GIL, no shared CUDA context)."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        fail('prefect-dask is not installed: pip install -e ".[dask]"')
    if address:
        return DaskTaskRunner(address=address)
    if workers < 1:
        fail(f"--workers {workers}: give at least 1")
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})


def set_env(name: str, value: str) -> None:
    """Set an environment variable in this process (sent to each Dask worker)."""
    os.environ[name] = value


def share_simulator_key(address: str) -> None:
    """The workers of an existing cluster (on this machine: the simulator listens on 127.0.0.1) started
    before the simulator: give them the variable its served teachers read their (dummy) key from."""
    from distributed import Client

    from flows.simulation import SIMULATOR_KEY_ENV

    with Client(address) as client:
        client.run(set_env, SIMULATOR_KEY_ENV, os.environ[SIMULATOR_KEY_ENV])


def run_round_on_dask(config: FairConfig, runner: DaskTaskRunner, round_index: int = 0) -> RoundResult:
    """`fair_round` of `config` with `runner` (preflight, the run lock and the simulated teachers first,
    as `run_pipeline` does); the round starts from round k-1's student, its results persist beside the
    run's tables, so a finished stage is not done again."""
    from fair_core.locks import run_lock
    from flows.pipeline import results_dir
    from flows.preflight import preflight
    from flows.round import fair_round
    from flows.simulation import simulated_teachers

    preflight(config)
    with run_lock(config.run.data_dir, config.run_id()), simulated_teachers(config) as (served, _):
        if config.simulator.enabled and runner.address:
            share_simulator_key(runner.address)
        round_flow = fair_round.with_options(task_runner=runner, result_storage=results_dir(served))
        return round_flow(served, round_index)


def main(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file or preset name (demo).")],
    round_index: Annotated[int, typer.Option("--round", help="Round to run (0: the first).")] = 0,
    address: Annotated[
        str | None,
        typer.Option(envvar=ADDRESS_ENV, help="Scheduler of an existing cluster, e.g. tcp://scheduler:8786."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes of the local cluster (no --address).")] = 2,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value: KEY=VALUE, e.g. student.shards=4."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run one FAIR round of a config with its tasks on Dask workers, on the run's own Prefect server
    (unless PREFECT_API_URL is set), and print the round's summary."""
    from flows.console import console

    cfg = load(config, set_, data_dir)
    runner = dask_runner(address, workers)
    result = guarded(cfg, lambda: run_round_on_dask(cfg, runner, round_index))
    summary = result.summary
    tables = Path(cfg.run.data_dir).expanduser() / "runs" / cfg.run_id() / f"round={result.round}"
    console.print(
        f"run {cfg.run_id()} round {result.round} on Dask: test accuracy "
        f"{summary.get('test_accuracy_before')} -> {summary.get('test_accuracy_after')}, "
        f"{summary.get('mistakes')} mistakes; tables: {tables}"
    )


if __name__ == "__main__":  # Dask starts worker processes that import this module: the guard is required
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    prefect_defaults()
    app = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
    app.command()(main)
    app()
