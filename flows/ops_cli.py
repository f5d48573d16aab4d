"""Operations commands of `fair`: `up` (server + deployments), `serve`, `resume RUN_ID`, `student-ready`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from fair_core.config import ConfigError, FairConfig
from flows.commands import DataDirOption, data_dir_or_default, fail, load, run_config

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Config whose values fill the deployments' forms (default: the demo preset in fair-demo, "
        "current-svamp in the others).",
    ),
]
CronOption = Annotated[
    str | None,
    typer.Option(
        help="Cron schedule for the fair-round deployment, e.g. '0 3 * * *': each run does the "
        "first unfinished round of the run."
    ),
]


def _config(path: Path | None) -> FairConfig:
    return load(path or "demo")


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM stops served deployments like Ctrl-C. Prefect's Runner handles SIGTERM by calling its sync
    `stop()` from inside its own event loop, where it only creates the `astop` coroutine and drops it
    (`RuntimeWarning: coroutine 'Runner.astop' was never awaited`); a KeyboardInterrupt instead takes
    `prefect.serve`'s own clean path (it pauses the deployments and returns)."""
    from prefect.runner import Runner

    def handle_sigterm(self: Any, *args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    previous = Runner.handle_sigterm
    Runner.handle_sigterm = handle_sigterm  # type: ignore[method-assign]
    try:
        yield
    finally:
        Runner.handle_sigterm = previous  # type: ignore[method-assign]


def serve(config: ConfigOption = None, cron: CronOption = None) -> None:
    """Register the deployments (pipeline, round, each stage) with the Prefect API in PREFECT_API_URL and
    run their flow runs from this process (Ctrl-C stops)."""
    from flows.serving import serve_deployments
    from flows.settings import prefect_defaults

    prefect_defaults()
    with sigterm_as_ctrl_c():
        serve_deployments(load(config) if config else None, cron)


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
    cfg = load(config) if config else None
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        sigterm_as_ctrl_c(),
        prefect_server(port) as api_url,
        temporary_settings(updates={PREFECT_API_URL: api_url}),
    ):
        os.environ["PREFECT_API_URL"] = api_url  # for the flow-run subprocesses
        console.print(f"Prefect UI: [bold]{api_url.removesuffix('/api')}[/bold] (API {api_url})")
        serve_deployments(cfg, cron)


def resume(
    run_id: Annotated[str, typer.Argument(help="The run to continue (a folder under <data_dir>/runs).")],
    data_dir: DataDirOption = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask every teacher request again.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another process runs this run, wait for it to end.")
    ] = False,
) -> None:
    """Continue a failed or stopped run with its stored config: finished stages come from Prefect's
    persisted results, teacher replies from the cache, training from its last checkpoint."""
    from fair_core.config.run import check_folder_name
    from fair_core.runs import stored_config

    data_dir = data_dir_or_default(data_dir)
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
