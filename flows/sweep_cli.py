"""`fair sweep`: run the variants of a sweep (an ablation, varied settings, seeds) and compare them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.commands import DataDirOption, fail, guarded, load


def _seeds(raw: str | None) -> list[int]:
    if not raw:
        return []
    try:
        return [int(s) for s in raw.split(",") if s.strip()]
    except ValueError:
        fail(f"--seeds {raw!r}: expected whole numbers separated by commas, e.g. 0,1,2")


def _plan_table(variants: list[Any], shared: dict[str, str]) -> Any:
    from rich.table import Table

    groups = {key: i + 1 for i, key in enumerate(dict.fromkeys(shared.values()))}
    table = Table(title=f"{len(variants)} runs ({len(groups)} round-0 inference group(s))")
    for column in ("label", "seed", "run id", "changes", "round 0"):
        table.add_column(column)
    for v in variants:
        changes = ", ".join(f"{k}={json.dumps(val)}" for k, val in v.meta.get("changes", {}).items())
        if v.meta.get("without_teacher"):
            changes = f"without teacher {v.meta['without_teacher']}"
        seed = "-" if v.seed is None else str(v.seed)
        table.add_row(v.label, seed, v.run_id, changes or "-", f"group {groups[shared[v.run_id]]}")
    return table


def register(app: typer.Typer) -> None:
    """Add `fair sweep` to the CLI."""

    @app.command()
    def sweep(
        config: Annotated[
            Path, typer.Option("--config", "-c", help="Config file (may have a `sweep:` section) or preset.")
        ],
        ablation: Annotated[
            str | None,
            typer.Option(help="Built-in variants: paper (review, feedback, single teachers) or committee."),
        ] = None,
        vary: Annotated[
            list[str] | None,
            typer.Option("--vary", help="KEY=V1,V2,...: run every variant with each value (repeatable)."),
        ] = None,
        seeds: Annotated[str | None, typer.Option(help="run.seed values, e.g. 0,1,2.")] = None,
        reference: Annotated[
            str | None, typer.Option(help="Label to compare against (default: the first variant).")
        ] = None,
        parallel: Annotated[int | None, typer.Option(help="Variants run at once (default 1).")] = None,
        name: Annotated[str | None, typer.Option(help="Sweep id (folder under <data_dir>/sweeps).")] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="List the runs and what they share; run nothing.")
        ] = False,
        set_: Annotated[list[str] | None, typer.Option("--set", help="Override a base config value.")] = None,
        data_dir: DataDirOption = None,
        refresh: Annotated[bool, typer.Option("--refresh", help="Ask every teacher request again.")] = False,
        wait: Annotated[bool, typer.Option("--wait", help="Wait for runs another process holds.")] = False,
    ) -> None:
        """Run a sweep: each variant is a run (a subflow of one `fair-sweep` flow); round 0's student answers
        and every teacher request are shared between runs that ask the same; then the comparison report
        (accuracy with 95% intervals, paired differences against the reference, cost) is written."""
        from fair_core.config import ConfigError
        from fair_core.sweep import (
            expand_sweep,
            parse_vary,
            read_sweep_file,
            reference_label,
            sweep_config,
            sweep_id,
        )
        from flows.commands import user_errors
        from flows.console import console
        from flows.preflight import preflight
        from flows.sweep import SweepIncomplete, run_locks, run_sweep
        from tasks.sharing import round0_identity

        base = load(config, set_, data_dir)
        try:
            plan = sweep_config(
                read_sweep_file(config),
                ablation=ablation,
                vary=parse_vary(vary or []) or None,
                seeds=_seeds(seeds) or None,
                reference=reference,
                parallel=parallel,
                name=name,
            )
            variants = expand_sweep(base, plan)
            sid = sweep_id(base, plan, variants)
        except ConfigError as err:
            fail(str(err))
        shared = {v.run_id: round0_identity(v.config) for v in variants}
        from rich.console import Console

        wide = console if console.is_terminal else Console(stderr=True, width=160)  # a log keeps columns
        wide.print(_plan_table(variants, shared))
        if dry_run:
            return
        try:
            preflight(base)
            for v in variants:
                preflight(v.config)
        except user_errors() as err:
            fail(str(err))
        console.print(f"[bold]FAIR sweep[/bold] {sid}: {len(variants)} runs")
        locks = run_locks(base.run.data_dir, variants, wait)  # a run held elsewhere: refused before a server
        try:
            done = guarded(
                base, lambda: run_sweep(base, plan, refresh, wait, checked=True), f"sweep {sid}", locks
            )
        except SweepIncomplete as err:
            fail(str(err))
        from fair_core.report.compare import compare_runs
        from flows.compare_cli import print_comparison
        from tasks.sweep import compare_variants

        label = reference_label(plan, done.variants)
        print_comparison(compare_runs(base.run.data_dir, compare_variants(done.variants), label))
        if done.simulator_requests is not None:
            console.print(
                f"Requests received by the teacher simulator in this sweep: {done.simulator_requests}"
            )
        console.print(f"Report: {done.report}")
