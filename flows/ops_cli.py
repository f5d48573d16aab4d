"""Operations commands of `fair`: `up` (server + deployments), `serve`, `resume RUN_ID`, `student-ready`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fair_core.config import ConfigError, FairConfig
from flows.commands import fail, load, run_config

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Config whose values fill the deployments' forms (default: demo)."),
]
CronOption = Annotated[
    str | None,
    typer.Option(
        help="Cron schedule for the fair-round deployment, e.g. '0 3 * * *': each run does the "
        "first unfinished round of the run."
    ),
]
DataDir = Annotated[Path, typer.Option(help="The data folder holding runs/<run id>.")]


def _config(path: Path | None) -> FairConfig:
    return load(path or "demo")


def serve(config: ConfigOption = None, cron: CronOption = None) -> None:
    """Register the deployments (pipeline, round, each stage) with the Prefect API in PREFECT_API_URL and
    run their flow runs from this process (Ctrl-C stops)."""
    from flows.serving import serve_deployments
    from flows.settings import prefect_defaults

    prefect_defaults()
    serve_deployments(_config(config), cron)


def up(
    config: ConfigOption = None,
    cron: CronOption = None,
    port: Annotated[int, typer.Option(help="Port of the Prefect server and UI.")] = 4200,
) -> None:
    """Start a local Prefect server (UI on http://127.0.0.1:PORT), register the deployments and run their
    flow runs, all in one command (Ctrl-C stops everything)."""
    from flows.console import console
    from flows.serving import prefect_server, serve_deployments
    from flows.settings import prefect_defaults

    prefect_defaults()
    cfg = _config(config)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with prefect_server(port) as api_url, temporary_settings(updates={PREFECT_API_URL: api_url}):
        os.environ["PREFECT_API_URL"] = api_url  # for the flow-run subprocesses
        console.print(f"Prefect UI: [bold]{api_url.removesuffix('/api')}[/bold] (API {api_url})")
        serve_deployments(cfg, cron)


def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue (a folder under <data-dir>/runs).")],
    data_dir: DataDir = Path("data"),
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask every teacher request again.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another process runs this run, wait for it to end.")
    ] = False,
) -> None:
    """Continue a failed or stopped run with its stored config: finished stages come from Prefect's
    persisted results, teacher replies from the cache, training from its last checkpoint."""
    from fair_core.config.run import check_folder_name
    from fair_core.runs import stored_config

    try:
        check_folder_name(run_id, "RUN_ID")
    except ValueError as err:
        fail(str(err))
    try:
        cfg = stored_config(data_dir, run_id)
    except ConfigError as err:
        fail(str(err))
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"data_dir": str(data_dir)})})
    if cfg.run_id() != run_id:  # a fixed run.run_id, or a config saved by another version
        cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"run_id": run_id})})
    run_config(cfg, refresh, wait)


def student_ready(
    model: Annotated[Path, typer.Option(help="The new student checkpoint (LoRA adapter or model folder).")],
    config: ConfigOption = None,
    round_index: Annotated[int, typer.Option("--round", help="The round to run from this student.")] = 0,
    chain: Annotated[bool, typer.Option(help="Go on with the later rounds after it.")] = False,
) -> None:
    """Register a new student checkpoint: emits `fair.student.ready` to the Prefect API in
    PREFECT_API_URL; the fair-round deployment's trigger then runs the round from it."""
    from flows.console import console
    from tasks.events import emit_student_ready

    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: point it at the Prefect server (`fair up` prints it)")
    if not model.is_dir():
        fail(f"--model {model}: no such folder")
    event_id = emit_student_ready(_config(config), model, round_index, chain)
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)  # delivered before we say so
    if event_id is None:
        fail("the event could not be sent (see the warning above)")
    console.print(f"emitted fair.student.ready {event_id} for {model.resolve()} (round {round_index})")


def register(app: typer.Typer) -> None:
    for command, name in ((up, "up"), (serve, "serve"), (resume, "resume"), (student_ready, "student-ready")):
        app.command(name)(command)
