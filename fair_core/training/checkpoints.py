"""Checkpoints of a training run (for resume) and the atomic save of the finished student."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fair_core.refs import TRAIN_RECORD

RESULT_FILE = TRAIN_RECORD  # beside the saved model: steps, losses, sample counts
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
_PARTIAL_PREFIX = ".model."


def _complete(checkpoint: Path) -> bool:
    """Trainer writes trainer_state.json last, and not atomically: complete = that file parses."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def latest_checkpoint(checkpoints_dir: Path, cleanup: bool = True) -> Path | None:
    """The newest complete Trainer checkpoint (its trainer_state.json, written last, parses). With `cleanup`,
    incomplete newer ones, left by a process killed while saving, are deleted (one process only: the
    ranks of a distributed run leave that to the launcher)."""
    if not checkpoints_dir.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), p) for p in checkpoints_dir.iterdir() if (m := _CHECKPOINT_RE.match(p.name))),
        reverse=True,
    )
    for _, path in found:
        if _complete(path):
            return path
        if cleanup:
            shutil.rmtree(path, ignore_errors=True)
    return None


def read_record(model_dir: Path) -> dict[str, Any] | None:
    """The training record of a complete saved model, or None when the model is absent or incomplete."""
    marker = Path(model_dir) / RESULT_FILE
    if not marker.is_file():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))


def remove_partials(output_dir: Path) -> None:
    """Delete half-written model folders left by a process killed while saving."""
    if output_dir.is_dir():
        for path in output_dir.glob(f"{_PARTIAL_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


def save_final(
    trainer: Any,
    final_dir: Path,
    record: Mapping[str, Any],
    extras: Callable[[Path], None] | None = None,
) -> None:
    """Write the adapter (or full model), tokenizer, record and `extras(folder)` (card, plot) to a temp
    folder renamed into place, so `final_dir` is either complete or absent.

    Every rank calls this (FSDP and DeepSpeed gather the weights collectively); only the main process
    writes. In a distributed run the temp folder has a fixed name, the same in every rank."""
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    distributed = trainer.args.world_size > 1
    main = trainer.is_world_process_zero()
    if distributed:
        tmp = final_dir.parent / f"{_PARTIAL_PREFIX}step-{trainer.state.global_step}"
    else:
        tmp = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=final_dir.parent))
    try:
        trainer.save_model(str(tmp))
        if not main:
            return
        (tmp / "training_args.bin").unlink(missing_ok=True)
        if extras is not None:
            extras(tmp)
        (tmp / RESULT_FILE).write_text(json.dumps(dict(record), indent=2), encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private
        if final_dir.exists():  # a leftover without the marker (incomplete): replace it
            shutil.rmtree(final_dir)
        tmp.rename(final_dir)
    except BaseException:
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
