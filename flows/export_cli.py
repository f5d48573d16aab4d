"""`fair export RUN_ID --out DIR`: the run's distilled dataset and its student as a Hub-ready folder, and
with `--push-to-hub REPO` on the Hugging Face Hub (model repo REPO, dataset repo REPO-data by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands import DataDirOption, data_dir_or_default, fail


def export(
    run_id: Annotated[str, typer.Argument(help="Run id (folder under <data_dir>/runs; see `fair runs`).")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write (created; must be new or empty).")],
    data_dir: DataDirOption = None,
    round_index: Annotated[
        int | None,
        typer.Option("--round", help="Export up to this round and its student (default: the last finished)."),
    ] = None,
    push_to_hub: Annotated[
        str | None,
        typer.Option(
            help="Hub model repo (owner/name) to push the student to; the dataset goes to REPO-data."
        ),
    ] = None,
    dataset_repo: Annotated[
        str | None,
        typer.Option(
            help="Hub dataset repo for the data (default with --push-to-hub: REPO-data). Named "
            "in the cards even without a push."
        ),
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the Hub repos private.")] = False,
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Also write merged full weights (base + adapter) in model/merged/."),
    ] = False,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the Hub write token (never printed).")
    ] = "HF_TOKEN",
    license_id: Annotated[
        str, typer.Option("--license", help="License id in both cards' metadata (Hub license ids).")
    ] = "other",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export in --out.")
    ] = False,
) -> None:
    """Export a finished run: the distilled dataset (one row per training sample, with question, round,
    teacher, task, peer reviews and acceptance) as Parquet with a dataset card that `datasets.load_dataset`
    reads, and the student (LoRA adapter naming its base by Hub id or absolute path, tokenizer, model card
    with Hub metadata and accuracy per round) in model/; optionally pushed to the Hugging Face Hub
    (HF_ENDPOINT, token from --token-env)."""
    from fair_core.export import ExportError, Names, export_run
    from fair_core.export.hub import HubPushError, dataset_repo_for, push_folder, token_from
    from fair_core.export.student import MODEL_DIR
    from fair_core.store import StoreError

    if private and not push_to_hub:
        fail("--private applies to --push-to-hub REPO; give the repo too")
    data_repo = dataset_repo or (dataset_repo_for(push_to_hub) if push_to_hub else None)
    try:
        token = token_from(token_env) if push_to_hub else None  # before any work: a missing token fails fast
        names = Names(model_repo=push_to_hub, dataset_repo=data_repo, license=license_id)
        result = export_run(
            data_dir_or_default(data_dir),
            run_id,
            out,
            round_index,
            names,
            merge=merge,
            overwrite=overwrite,
            extra_secret_env=(token_env,),
        )
    except (ExportError, StoreError, HubPushError) as err:
        fail(str(err))
    except OSError as err:
        fail(f"--out {out}: cannot write the export ({err.strerror or err})")
    typer.echo(
        f"dataset: {result.out} ({result.rows} training samples; datasets.load_dataset({str(result.out)!r}))"
    )
    if result.model_dir is not None:
        typer.echo(f"student: {result.model_dir}")
    if result.merged_dir is not None:
        typer.echo(f"merged weights: {result.merged_dir}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    if not push_to_hub or token is None or data_repo is None:
        return
    try:
        ignore = [f"{MODEL_DIR}/*", ".fair-export"]
        pushed = [push_folder(result.out, data_repo, "dataset", token, private, ignore)]
        if result.model_dir is not None:
            pushed.append(push_folder(result.model_dir, push_to_hub, "model", token, private))
    except HubPushError as err:
        fail(str(err))
    for item in pushed:
        typer.echo(f"pushed {item.repo_type} {item.repo_id}: {item.url} ({item.files} files)")


def register(app: typer.Typer) -> None:
    """Add `fair export` to the `fair` command."""
    app.command("export")(export)
