"""`fair runs [--data-dir D]`: the runs under a data dir with their state, newest first."""

from __future__ import annotations

import time

import typer

from flows.commands import DataDirOption, data_dir_or_default

COLUMNS = ("run", "name", "rounds", "last stage", "state", "test accuracy (last round)", "cost", "modified")


def rows(data_dir: object) -> list[dict[str, str]]:
    """The table's rows (strings) of every run under `data_dir`."""
    from fair_core.run_list import list_runs
    from fair_core.stats import format_rate

    out = []
    for info in list_runs(data_dir):  # type: ignore[arg-type]
        planned = "?" if info.rounds_planned is None else str(info.rounds_planned)
        state = info.state + (f" ({info.detail})" if info.detail else "")
        accuracy = "-"
        if info.test_accuracy is not None:
            accuracy = f"round {info.test_round}: {format_rate(info.test_accuracy)}"
        out.append(
            {
                "run": info.run_id,
                "name": info.name or "-",
                "rounds": f"{info.rounds_done}/{planned}",
                "last stage": info.last_stage or "-",
                "state": state,
                "test accuracy (last round)": accuracy,
                "cost": f"${info.cost_usd:.4f}",
                "modified": time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified)),
            }
        )
    return out


def runs(data_dir: DataDirOption = None) -> None:
    """List the runs under a data dir: run id, name, rounds done/planned, last stage, state (finished,
    running: its lock is held, failed, partial: stopped or not finished), the last round's test accuracy
    with n and 95% interval, cost paid, last modified."""
    from rich.console import Console
    from rich.table import Table

    folder = data_dir_or_default(data_dir)
    found = rows(folder)
    console = Console(width=max(Console().width, 160))  # a pipe or log gets every column
    if not found:
        console.print(f"No runs under {folder.expanduser() / 'runs'}.", soft_wrap=True)
        return
    table = Table(title=f"Runs under {folder.expanduser() / 'runs'}")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in ("rounds", "cost") else "left", overflow="fold")
    for row in found:
        table.add_row(*(row[c] for c in COLUMNS))
    console.print(table)
    console.print("Details: fair summary RUN_ID, fair report RUN_ID (same --data-dir).", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `fair runs` to the `fair` command."""
    app.command("runs")(runs)
