"""What every `fair` command shares: the error format and exit code, config loading, running a config
(preflight checks, the run lock, its own Prefect server, Ctrl-C and SIGTERM)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from fair_core.config import ConfigError, FairConfig, load_config

T = TypeVar("T")

#: Where run-id commands (summary, report, runs, resume, compare, ...) look without `--data-dir`.
DEFAULT_DATA_DIR = Path("data")
DATA_DIR_HELP = (
    "Data folder holding runs/, caches and models. Default: the config's run.data_dir for a command "
    "given a config, else ./data."
)
#: The one `--data-dir` option of every command (None: the default above, see `data_dir_or_default`).
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP, show_default=False)]


def data_dir_or_default(data_dir: Path | None) -> Path:
    """`--data-dir` of a run-id command: the given folder, else ./data."""
    return DEFAULT_DATA_DIR if data_dir is None else data_dir


def fail(message: str) -> NoReturn:
    """Print one error line (no traceback) and exit with code 2."""
    from rich.markup import escape

    from flows.console import console

    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)  # one line, brackets kept
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


#: After the first Ctrl-C / SIGTERM, cleanup (flow runs marked, server stopped) gets this long at most.
CLEANUP_S = 30.0


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM like Ctrl-C: KeyboardInterrupt in the main thread (Prefect marks the flow runs Crashed);
    later signals are ignored while the run cleans up, and a watchdog ends the process if that hangs."""

    def handler(signum: int, frame: Any) -> None:
        if getattr(handler, "seen", False):
            return  # cleaning up already
        handler.seen = True  # type: ignore[attr-defined]
        watchdog = threading.Timer(CLEANUP_S, os._exit, args=(130,))
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interrupted(config: FairConfig, what: str | None = None) -> NoReturn:
    """The one line of a stopped run, then exit 130 without waiting for worker threads still running."""
    from flows.console import console

    console.print(
        f"[yellow]interrupted:[/yellow] {what or 'run ' + config.run_id()} stopped; finished stages and "
        "stored teacher replies are kept; rerun the same command to continue",
        soft_wrap=True,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)  # teacher or inference threads may still be busy: nothing of theirs is needed now


def run_server() -> AbstractContextManager[Any]:
    """Our own Prefect server for the run, unless PREFECT_API_URL names one."""
    from prefect.settings import get_current_settings

    from flows.embedded import own_server

    return nullcontext() if get_current_settings().api.url else own_server()


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a run reports as one `error:` line (exit 2): the user can fix each of them."""
    from fair_core.locks import RunLocked
    from fair_core.store import StoreError
    from fair_core.teachers.cache import ReplyStoreError
    from fair_core.teachers.integrity import ReplyCacheDamaged
    from fair_core.teachers.keys import MissingAPIKeyError
    from fair_core.teachers.ledger import BudgetExceeded
    from fair_core.teachers.simulator.server import SimulatorSetupError

    return (
        MissingAPIKeyError,
        BudgetExceeded,
        SimulatorSetupError,
        ConfigError,
        RunLocked,
        ReplyCacheDamaged,
        ReplyStoreError,
        StoreError,
    )


def guarded(
    config: FairConfig,
    body: Callable[[], T],
    what: str | None = None,
    before: AbstractContextManager[Any] | None = None,
) -> T:
    """Run `body` (the work of `fair run` or `fair sweep`) on the run's own Prefect server, with the live
    progress display on a terminal: a user error is one line (exit 2), Ctrl-C or SIGTERM stops it cleanly
    (exit 130), a provider that kept failing names the resume command. `before` is entered first (the
    run's lock: a run already running is refused before a server starts)."""
    from fair_core.progress import using_sink
    from fair_core.teachers.caller import TeacherBatchIncomplete
    from flows.console import RichProgressSink, console

    with stop_on_signals():
        try:
            with before or nullcontext(), run_server():  # `before`: e.g. the run lock, refused at once
                if console.is_terminal:
                    with RichProgressSink() as sink, using_sink(sink):
                        return body()
                return body()  # logs only: a redrawn bar is noise in a file or CI log
        except KeyboardInterrupt:
            interrupted(config, what)
        except user_errors() as err:
            fail(str(err))
        except TeacherBatchIncomplete as err:  # a provider kept failing: everything so far is kept
            data_dir = Path(config.run.data_dir).expanduser()
            fail(f"{err}\nContinue with: fair resume {config.run_id()} --data-dir {data_dir}")


def recorded(config: FairConfig, body: Callable[[], T]) -> T:
    """`body` (a run's pipeline), with how it ended written to the run folder for `fair runs`: finished,
    stopped (Ctrl-C, SIGTERM) or failed (the error's first line)."""
    from fair_core.run_list import write_outcome

    root = Path(config.run.data_dir).expanduser() / "runs" / config.run_id()
    try:
        result = body()
    except KeyboardInterrupt:
        write_outcome(root, "stopped")
        raise
    except BaseException as err:
        write_outcome(root, "failed", (str(err).strip().splitlines() or [type(err).__name__])[0][:300])
        raise
    write_outcome(root, "finished")
    return result


def run_config(config: FairConfig, refresh: bool = False, wait: bool = False) -> None:
    """Check the config, take the run lock, start the run's Prefect server, run the pipeline with a live
    progress display, then print the per-round table. Every user error exits 2 before any work."""
    from fair_core.datasets.preflight import check_hub
    from fair_core.locks import RunLocked, describe_holder, run_lock
    from flows.console import console, summary_table
    from flows.pipeline import run_pipeline
    from flows.preflight import preflight

    try:
        preflight(config)
        check_hub(config.dataset)  # an unreachable Hub: one line now, not retries and tracebacks later
    except user_errors() as err:
        fail(str(err))
    console.print(
        f"[bold]FAIR run[/bold] {config.run_id()}: {config.run.rounds} round(s) on "
        f"{config.dataset.name}, student {config.student.model}, "
        f"teachers {', '.join(t.name for t in config.teachers)}"
    )

    def waiting(locked: RunLocked) -> None:
        console.print(f"waiting for run {config.run_id()}: {describe_holder(locked.holder)} runs it")

    lock = run_lock(config.run.data_dir, config.run_id(), wait, on_wait=waiting)
    result = guarded(
        config, lambda: recorded(config, lambda: run_pipeline(config, refresh, checked=True)), before=lock
    )
    labels = {t.name: f"{t.provider} {t.model}" for t in config.teachers}
    console.print(summary_table(result.summaries, f"FAIR run {config.run_id()}", labels))
    if result.simulator_requests is not None:
        console.print(f"Requests received by the teacher simulator in this run: {result.simulator_requests}")
    runs = Path(config.run.data_dir).expanduser() / "runs" / config.run_id()
    console.print(f"Tables and manifests: {runs}")
