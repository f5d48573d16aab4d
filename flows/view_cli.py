"""`fair view RUN_ID`: browse a run's questions, answers, feedback, rationales and reviews in a local page,
or write the page as a static folder to share (`--out DIR`, or `--share` for `<run folder>/view/`)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands import DataDirOption, data_dir_or_default, fail

if TYPE_CHECKING:
    from fair_core.view import RunView

DEFAULT_PORT = 8765


def view(
    run_id: Annotated[str, typer.Argument(help="Run id (folder under <data_dir>/runs; see `fair runs`).")],
    data_dir: DataDirOption = None,
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 to serve on (0: any free port).")
    ] = DEFAULT_PORT,
    out: Annotated[
        Path | None,
        typer.Option(help="Write a static folder that opens from file:// (no server) instead of serving."),
    ] = None,
    share: Annotated[
        bool,
        typer.Option(
            "--share", help="Write the static folder to <data_dir>/runs/<run_id>/view/ (the report links it)."
        ),
    ] = False,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
) -> None:
    """Open an interactive page of a run: every question with its gold answer, the student's answer before
    and after each round, each teacher's feedback, each rationale with its reviews and acceptance decision,
    the training samples built from it; filters (accepted, rejected, teacher, fixed, broken, unparseable,
    round, split) and text search. Serves on 127.0.0.1 until Ctrl-C, or writes a static folder."""
    from fair_core.store import StoreError
    from fair_core.view import RunView, ViewError

    if out is not None and share:
        fail("give --out DIR or --share, not both")
    data_dir = data_dir_or_default(data_dir)
    try:
        run_view = RunView(data_dir, run_id)
        if out is not None or share:
            from fair_core.view.static import SHARE_DIR, write_share

            folder = out if out is not None else run_view.run.root / SHARE_DIR
            try:
                page = write_share(run_view, folder)
            except OSError as err:
                fail(f"--out {folder}: cannot write the viewer ({err.strerror or err})")
            typer.echo(str(page))
            if not no_open:
                _open(page.resolve().as_uri())
            return
        run_view.index()  # read the run before saying it is ready (a broken table fails here)
    except (ViewError, StoreError) as err:
        fail(str(err))
    _serve(run_view, port, no_open)


def _open(url: str) -> None:
    import webbrowser

    webbrowser.open(url)


def _serve(run_view: RunView, port: int, no_open: bool) -> None:
    from fair_core.view.server import make_server

    try:
        server = make_server(run_view, "127.0.0.1", port)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            fail(f"--port {port}: already in use on 127.0.0.1; pass another port (--port 0: any free one)")
        fail(f"--port {port}: cannot listen on 127.0.0.1 ({err.strerror or err})")
    host, bound = server.server_address[:2]
    url = f"http://{host}:{bound}/"
    typer.echo(f"Viewer of run {run_view.run_id} at {url} (Ctrl-C stops it)")
    if not no_open:
        _open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add `fair view` to the `fair` command."""
    app.command("view")(view)
