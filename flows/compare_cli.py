"""`fair compare RUN_ID...`: the comparison table of several runs in the terminal, and its HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from flows.commands import DataDirOption, data_dir_or_default, fail

#: The CLI table's columns (the HTML page has them all).
CLI_COLUMNS = (
    "variant",
    "seed",
    "run",
    "test accuracy",
    "vs reference",
    "fixed / broken",
    "McNemar p",
    "paid",
    "sent",
    "from cache",
    "training samples",
)
DEFAULT_OUT = "compare.html"


def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids (folders under <data_dir>/runs) to compare.")],
    data_dir: DataDirOption = None,
    reference: Annotated[
        str | None,
        typer.Option(help="Run id of the reference variant (default: the first run; its label's seeds too)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help=f"HTML file to write (default: <data_dir>/{DEFAULT_OUT}).")
    ] = None,
) -> None:
    """Compare runs on the same test questions: accuracy with n and 95% interval, paired difference against
    the reference with McNemar's test, spread over seeds, cost, teacher calls, training samples. Labels,
    seeds and meta come from a sweep's `sweep.json` when the run has one (else the run id is the label)."""
    from rich.console import Console

    from fair_core.report.compare import CompareError, compare_runs, read_variant
    from fair_core.report.compare_render import comparison_html
    from fair_core.store import StoreError
    from fair_core.store.parquet import atomic_write_bytes

    data_dir = data_dir_or_default(data_dir)
    try:
        variants = [read_variant(data_dir, run_id) for run_id in run_ids]
        label = None
        if reference is not None:
            label = next((v.label for v in variants if v.run_id == reference), None)
            if label is None:
                fail(f"--reference {reference}: not one of the compared runs ({', '.join(run_ids)})")
        comparison = compare_runs(data_dir, variants, label)
        page = comparison_html(comparison)
    except (CompareError, StoreError) as err:
        fail(str(err))
    path = out if out is not None else Path(data_dir).expanduser() / DEFAULT_OUT
    try:
        atomic_write_bytes(path, page.encode("utf-8"))
    except OSError as err:
        fail(f"--out {path}: cannot write the report ({err.strerror or err})")
    print_comparison(comparison)
    Console().print(f"Report: {path}", soft_wrap=True)


def print_comparison(comparison: Any) -> None:
    """The comparison's tables (runs, over seeds, without a teacher) and notes, on the whole width."""
    from rich.console import Console
    from rich.table import Table

    from fair_core.report.compare_render import seed_rows, teacher_rows, variant_rows

    console = Console(width=max(Console().width, 200))  # a pipe or log gets the whole table

    def show(title: str, rows: list[dict[str, str]], columns: tuple[str, ...] | None = None) -> None:
        if not rows:
            return
        table = Table(title=title)
        names = list(columns or rows[0])
        for name in names:
            left = name in ("variant", "run", "seed")
            table.add_column(name, justify="left" if left else "right", no_wrap=not left)
        for row in rows:
            table.add_row(*(row[name] for name in names))
        console.print(table)

    show(f"FAIR comparison (reference: {comparison.reference})", variant_rows(comparison), CLI_COLUMNS)
    show("Over seeds", seed_rows(comparison))
    show("Without a teacher", teacher_rows(comparison))
    for note in comparison.notes:
        console.print(f"note: {note}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `fair compare` to the `fair` command."""
    app.command("compare")(compare)
