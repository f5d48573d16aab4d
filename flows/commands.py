"""What every `fair` command shares: the error format and exit code, config loading, running a config."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from fair_core.config import ConfigError, FairConfig, load_config


def fail(message: str) -> NoReturn:
    """Print one error line (no traceback) and exit with code 2."""
    from flows.console import console

    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def load(path: Path | str, overrides: list[str] | None = None, data_dir: Path | None = None) -> FairConfig:
    """A config file (or preset name) with `--set` overrides and `--data-dir`; a bad one exits cleanly."""
    extra = list(overrides or [])
    if data_dir is not None:
        extra.append(f"run.data_dir={data_dir}")
    try:
        return load_config(path, extra)
    except (ConfigError, FileNotFoundError) as err:
        fail(str(err))


def run_config(config: FairConfig, refresh: bool = False) -> None:
    """Run the pipeline of a config with a live progress display, then print the per-round table."""
    from fair_core.progress import using_sink
    from fair_core.teachers.caller import TeacherBatchIncomplete
    from fair_core.teachers.keys import MissingAPIKeyError
    from fair_core.teachers.ledger import BudgetExceeded
    from fair_core.teachers.simulator.server import SimulatorSetupError
    from flows.console import RichProgressSink, console, summary_table
    from flows.pipeline import run_pipeline

    console.print(
        f"[bold]FAIR run[/bold] {config.run_id()}: {config.run.rounds} round(s) on "
        f"{config.dataset.name}, student {config.student.model}, "
        f"teachers {', '.join(t.name for t in config.teachers)}"
    )
    try:
        if console.is_terminal:
            with RichProgressSink() as sink, using_sink(sink):
                result = run_pipeline(config, refresh)
        else:  # logs only: a redrawn bar is noise in a file or CI log
            result = run_pipeline(config, refresh)
    except (MissingAPIKeyError, BudgetExceeded, SimulatorSetupError, ConfigError) as err:
        fail(str(err))
    except TeacherBatchIncomplete as err:  # a provider kept failing: everything so far is kept
        data_dir = Path(config.run.data_dir).expanduser()
        fail(f"{err}\nContinue with: fair resume {config.run_id()} --data-dir {data_dir}")
    console.print(summary_table(result.summaries, f"FAIR run {config.run_id()}"))
    if result.simulator_requests is not None:
        console.print(f"Requests received by the teacher simulator in this run: {result.simulator_requests}")
    runs = Path(config.run.data_dir).expanduser() / "runs" / config.run_id()
    console.print(f"Tables and manifests: {runs}")
