"""The `fair` command line (typer app): every command, registered from its module."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Annotated

import typer

from flows.commands import DataDirOption, data_dir_or_default, fail, load, run_config
from flows.compare_cli import register as register_compare
from flows.export_cli import register as register_export
from flows.ops_cli import register as register_operations
from flows.runs_cli import register as register_runs
from flows.sweep_cli import register as register_sweep
from flows.view_cli import register as register_view

HELP = (
    "FAIR: fault-aware distillation of a small student from a committee of teacher LLMs, orchestrated "
    "by Prefect. Start with `fair demo` (offline), `fair estimate -c CONFIG` (cost before spending) and "
    "`fair run -c CONFIG`; then `fair runs`, `fair summary RUN_ID` and `fair report RUN_ID`. "
    "`fair COMMAND -h` explains each command."
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=HELP,
    rich_markup_mode="markdown",  # docstring lines join into paragraphs
    context_settings={"help_option_names": ["-h", "--help"]},  # every command inherits it
)


def version_text() -> str:
    """`fair --version`: the package version, and the git commit of a checkout (`0.5.0+1a2b3c4`)."""
    from fair_core.store.parquet import code_version

    return f"fair-distill {code_version()}"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _setup(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version (and git commit) and exit."
        ),
    ] = False,
) -> None:
    # peft asks transformers a deprecated question on every load; it is noise for users
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    from flows.settings import prefect_defaults

    prefect_defaults()  # before anything imports prefect: its settings are read once


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: KEY=VALUE, e.g. training.epochs=2."),
]

RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="Ask every teacher request again (ignore cached replies).")
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="If another process runs this run (same run id and data dir), wait for it to end."
    ),
]


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file or preset name (demo).")],
    set_: SetOption = None,
    data_dir: DataDirOption = None,
    refresh: RefreshOption = False,
    wait: WaitOption = False,
) -> None:
    """Run the FAIR pipeline of a config file on Prefect (its own local server unless PREFECT_API_URL is
    set); one run at a time per run id and data dir; Ctrl-C stops it (rerun to continue)."""
    run_config(load(config, set_, data_dir), refresh, wait)


@app.command()
def demo(
    task: Annotated[
        str, typer.Option(help="reasoning-gym task: chain_sum (easy) or gsm_symbolic.")
    ] = "chain_sum",
    rounds: Annotated[int | None, typer.Option(help="Rounds (default: the preset's 2).")] = None,
    set_: SetOption = None,
    data_dir: DataDirOption = None,
    refresh: RefreshOption = False,
    wait: WaitOption = False,
) -> None:
    """The offline demo: simulated teachers, the SmolLM2-135M student, 2 rounds on a reasoning-gym task."""
    overrides = [f"dataset.gym.task={task}"]
    if task != "chain_sum":
        overrides.append("dataset.gym.options={}")
    if rounds is not None:
        overrides.append(f"run.rounds={rounds}")
    run_config(load("demo", overrides + list(set_ or []), data_dir), refresh, wait)


@app.command()
def estimate(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file or preset name (demo).")],
    mistake_rate: Annotated[
        float,
        typer.Option(help="Share of training questions assumed wrong (default 1.0: the paper's worst case)."),
    ] = 1.0,
    from_run: Annotated[
        str | None, typer.Option("--from-run", help="Use the real mistakes of this run's last round.")
    ] = None,
    set_: SetOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print the teacher calls, tokens and cost (online vs batch) of one round, before spending anything."""
    from rich.table import Table

    from fair_core.config import ConfigError
    from fair_core.datasets import load_examples
    from fair_core.datasets.preflight import check_dataset, check_hub
    from fair_core.estimate import assumed_mistakes, estimate_round, estimate_table, mistakes_from_run
    from fair_core.store import StoreError
    from flows.console import console

    cfg = load(config, set_, data_dir)
    try:
        check_dataset(cfg.dataset)
        check_hub(cfg.dataset)  # an unreachable Hub: one line at once, not ~24 s of retries
        examples = load_examples(cfg.dataset, cfg.dataset.train_split).examples
    except ConfigError as err:
        fail(str(err))
    if from_run:
        try:
            mistakes, source = mistakes_from_run(cfg.run.data_dir, from_run)
        except (FileNotFoundError, StoreError) as err:
            fail(str(err))
    else:
        try:
            mistakes = assumed_mistakes(examples, mistake_rate)
        except ValueError as err:
            fail(str(err))
        worst = " (the paper's worst case)" if mistake_rate == 1.0 else ""
        source = f"an assumed mistake rate of {mistake_rate:g}{worst}: {len(mistakes)} mistakes"
    by_id = {e.id: e for e in examples}
    unknown = [m["example_id"] for m in mistakes if m["example_id"] not in by_id]
    if unknown:
        fail(f"{len(unknown)} mistakes name questions not in the training split (first: {unknown[0]})")
    result = estimate_round(cfg, by_id, mistakes, source)
    lines = estimate_table(result)
    table = Table(title=f"Teacher calls of one round of {cfg.run_id()} ({len(examples)} training questions)")
    for name in lines[0]:
        table.add_column(name, justify="left" if name in ("teacher", "role", "mode") else "right")
    for line in lines[1:]:
        table.add_row(*line)
    from rich.console import Console

    wide = console if console.is_terminal else Console(stderr=True, width=140)  # a log keeps every column
    wide.print(table)
    console.print(f"Mistakes: {source}. Nothing was sent.")
    console.print(
        "In (prompt) tokens: characters / 4; out (completion) tokens: every reply at max_tokens (max) or "
        "a typical reply length (typ, see fair_core/estimate.py); costs in USD, batch at 50% of online."
    )
    if result.unpriced:
        console.print(f"[yellow]No price for {', '.join(result.unpriced)}[/yellow]: set price_*_per_mtok.")
    if cfg.run.rounds > 1:
        console.print(
            f"{cfg.run.rounds} rounds: at most {cfg.run.rounds} x these numbers "
            "(later rounds have fewer mistakes)."
        )
    if cfg.run.budget_usd is not None:
        console.print(f"run.budget_usd: ${cfg.run.budget_usd:g}")


@app.command("import-reference")
def import_reference_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder with the paper code's *_round0.json files.")],
    run_id: Annotated[str, typer.Option(help="Run id to import into.")] = "reference-svamp",
    data_dir: DataDirOption = None,
    threshold: Annotated[float, typer.Option(help="Accept when the mean valid score is above this.")] = 3.0,
) -> None:
    """Import the paper code's round-0 outputs into the store and re-run our peer-review selection."""
    from collections import Counter

    from fair_core.review import select_rationales
    from fair_core.store import RunStore
    from fair_core.store.reference import ReferenceFormatError, import_reference
    from flows.console import console

    store = RunStore(data_dir_or_default(data_dir), run_id).round(0)
    try:
        summary = import_reference(folder, store, on_skip=lambda m: logging.getLogger("fair").warning(m))
    except ReferenceFormatError as err:
        fail(str(err))
    acceptance = select_rationales(store.rows("rationales"), store.rows("reviews"), threshold=threshold)
    store.write("acceptance", acceptance)
    per_question = Counter(
        Counter(a["example_id"] for a in acceptance if a["accepted"]).get(e, 0)
        for e in {a["example_id"] for a in acceptance}
    )
    per_teacher = Counter(a["teacher"] for a in acceptance if a["accepted"])
    console.print(f"Imported {summary.questions} questions into {store.path}: {summary.tables}")
    console.print(
        "Questions by accepted rationales: "
        + ", ".join(f"{n} accepted: {per_question[n]}" for n in sorted(per_question, reverse=True))
    )
    console.print(
        "Accepted per teacher (ours / reference): "
        + ", ".join(f"{t} {per_teacher[t]}/{summary.reference_accepted[t]}" for t in sorted(per_teacher))
    )


@app.command()
def summary(
    run_id: Annotated[str, typer.Argument(help="Run id (folder under <data_dir>/runs; see `fair runs`).")],
    data_dir: DataDirOption = None,
) -> None:
    """Print the per-round table of a finished or partial run from its manifests."""
    from fair_core.run_list import read_json
    from fair_core.store import RunStore
    from flows.console import console, summary_table, teacher_labels

    store = RunStore(data_dir_or_default(data_dir), run_id)
    manifests = [store.round(k).manifest() for k in store.rounds()]
    rounds = [m.get("summary") for m in manifests]
    if not any(rounds):
        fail(f"no round summaries under {store.root}")
    config = read_json(store.config_path) or next((m["config"] for m in manifests if m.get("config")), {})
    table = summary_table([r for r in rounds if r], f"FAIR run {run_id}", teacher_labels(config))
    console.print(table)


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="Run id (folder under <data_dir>/runs; see `fair runs`).")],
    data_dir: DataDirOption = None,
    out: Annotated[
        Path | None, typer.Option(help="HTML file to write (default: <data_dir>/runs/<run_id>/report.html).")
    ] = None,
) -> None:
    """Write one self-contained HTML report of a run (tables and plots inside) and print its path."""
    from fair_core.report.html_page import write_run_report
    from fair_core.store import StoreError

    try:
        path = write_run_report(data_dir_or_default(data_dir), run_id, out)
    except (FileNotFoundError, StoreError) as err:
        fail(str(err))
    typer.echo(str(path))


register_operations(app)  # fair up, serve, resume, student-ready (flows/ops_cli.py)
register_sweep(app)  # fair sweep (flows/sweep_cli.py)
register_compare(app)  # fair compare (flows/compare_cli.py)
register_runs(app)  # fair runs (flows/runs_cli.py)
register_view(app)  # fair view (flows/view_cli.py)
register_export(app)  # fair export (flows/export_cli.py)

if __name__ == "__main__":
    app()
