"""`export_run`: a finished run as one Hub-ready folder: the distilled dataset (data/*.parquet, README.md
dataset card, fair_config.yaml) and the student in model/ (adapter, tokenizer, model card; merged/ on
request); checked to hold none of the run's secrets."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fair_core.export.cards import CONFIG_FILE, Names, config_yaml, dataset_card, student_card
from fair_core.export.dataset import TRAIN_FILE, distilled_rows, write_parquet
from fair_core.export.source import ExportError, ExportSource, locate, secret_values
from fair_core.export.student import (
    MERGED_DIR,
    MODEL_DIR,
    copy_student,
    is_adapter,
    local_base,
    merge_student,
)
from fair_core.training.card import CARD_FILE

#: Written in every export folder: `--overwrite` replaces only folders that hold it.
MARKER = ".fair-export"


@dataclass
class ExportResult:
    out: Path
    rows: int
    dataset_file: Path
    model_dir: Path | None = None
    merged_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


def _check_secrets(folder: Path, secrets: list[str], rows: list[dict]) -> None:
    """ExportError when a key value appears in a written text file or a dataset row (it never should)."""
    if not secrets:
        return
    texts = [str(r) for r in rows]
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".yaml", ".json", ".jinja", ".txt"):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    if any(secret in text for secret in secrets for text in texts):
        raise ExportError(
            "export stopped: an API key value was found in what it would write; nothing written"
        )


def _prepare(out: Path, overwrite: bool) -> Path:
    """A temporary sibling of `out` to build in (renamed into place at the end)."""
    if out.exists() and (out.is_file() or any(out.iterdir())):
        if not overwrite:
            raise ExportError(
                f"--out {out}: exists and is not empty; choose another folder or give --overwrite"
            )
        if out.is_file() or not (out / MARKER).is_file():
            raise ExportError(
                f"--out {out}: --overwrite replaces only an earlier export folder, not this one"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def export_run(
    data_dir: str | Path,
    run_id: str,
    out: str | Path,
    round_index: int | None = None,
    names: Names | None = None,
    merge: bool = False,
    overwrite: bool = False,
    extra_secret_env: tuple[str, ...] = (),
) -> ExportResult:
    """Write the export of run `run_id` (up to round `round_index`, default its last finished one) to
    `out`. `names` says where it will live on the Hub (the cards name those repos)."""
    source = locate(data_dir, run_id, round_index)
    names = names or Names()
    out = Path(out).expanduser()
    tmp = _prepare(out, overwrite)
    try:
        result = _write(source, tmp, names, merge, out.resolve())
        _check_secrets(tmp, secret_values(source.config, extra_secret_env), [])
        (tmp / MARKER).write_text(f"{source.run_id}\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = out
    result.dataset_file = out / TRAIN_FILE
    result.model_dir = out / MODEL_DIR if result.model_dir else None
    result.merged_dir = out / MODEL_DIR / MERGED_DIR if result.merged_dir else None
    return result


def _write(source: ExportSource, folder: Path, names: Names, merge: bool, final: Path) -> ExportResult:
    rows = distilled_rows(source)
    _check_secrets(folder, secret_values(source.config), rows)
    dataset_file = write_parquet(folder, rows)
    (folder / CARD_FILE).write_text(dataset_card(source, rows, names, str(final)), encoding="utf-8")
    (folder / CONFIG_FILE).write_text(config_yaml(source), encoding="utf-8")
    result = ExportResult(folder, len(rows), dataset_file)
    if source.model_dir is None:
        result.notes.append("no round trained a student (every training set was empty): dataset only")
        return result
    if source.model_round != source.final_round:
        result.notes.append(
            f"rounds {source.model_round + 1}-{source.final_round} trained nothing: "
            f"the student is round {source.model_round}'s"
        )
    model = folder / MODEL_DIR
    ref = source.config.student.model
    facts = copy_student(source.model_dir, model, ref, source.data_dir)
    record = facts.pop("record")
    (model / CARD_FILE).write_text(
        student_card(source, record, names, facts, str(final / MODEL_DIR)), encoding="utf-8"
    )
    result.model_dir = model
    if merge:
        if not is_adapter(model):
            result.notes.append("--merge: the student is a full fine-tune already (no adapter to merge)")
        else:
            base = local_base(ref, source.data_dir) or facts["base_reference"]
            result.merged_dir = merge_student(model, base, model / MERGED_DIR)
    return result
