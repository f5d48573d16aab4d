"""A run on disk: its stored config, which round is due next, and the student each round starts from."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from fair_core.config import ConfigError, FairConfig, parse_config
from fair_core.refs import ModelRef
from fair_core.store import RunStore
from fair_core.store.location import absolute, as_path, folder_complete

#: Where a round keeps the student it trained (student_k+1), relative to the round's folder.
TRAINED_MODEL = Path("student") / "model"


def stored_config(data_dir: str | Path, run_id: str) -> FairConfig:
    """The config a run was started with (`runs/<run_id>/config.json`), for resume and triggered rounds."""
    run = RunStore(data_dir, run_id)
    if not run.config_path.is_file():
        known = sorted(p.name for p in run.root.parent.glob("*") if (p / "config.json").is_file())
        raise ConfigError(
            f"run {run_id!r}: no stored config at {run.config_path} "
            f"(runs under {run.root.parent}: {', '.join(known) or 'none'})"
        )
    try:
        return parse_config(json.loads(run.config_path.read_text()))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{run.config_path}: not valid JSON ({err})") from err


def completed_rounds(config: FairConfig) -> list[int]:
    """Rounds of the run whose manifest holds a summary (the round flow finished)."""
    run = RunStore(config.run.data_dir, config.run_id())
    return [k for k in run.rounds() if run.round(k).manifest().get("summary")]


def next_round(config: FairConfig) -> int | None:
    """The first round not finished yet, or None when all `run.rounds` rounds are done."""
    done = set(completed_rounds(config))
    return next((k for k in range(config.run.rounds) if k not in done), None)


def accuracy_after(config: FairConfig, round_index: int) -> float | None:
    """Test accuracy of the student round `round_index` trained (None: not evaluated or not finished)."""
    if round_index < 0:
        return None
    summary = RunStore(config.run.data_dir, config.run_id()).round(round_index).manifest().get("summary")
    return (summary or {}).get("test_accuracy_after")


def model_at(path: str | Path, base: ModelRef, label: str) -> ModelRef:
    """A student checkpoint folder as a ModelRef: a LoRA adapter (on `base`) or a full model."""
    folder = absolute(as_path(path))
    if (folder / "adapter_config.json").is_file():
        return ModelRef(base.base, str(folder), label)
    if (folder / "config.json").is_file():
        return ModelRef(str(folder), None, label)
    raise ConfigError(f"student checkpoint {folder}: neither a LoRA adapter nor a model folder")


def trained_student(config: FairConfig, round_index: int, base: ModelRef) -> ModelRef:
    """student_k+1: what round `round_index` trained (it must have finished its training stage); when its
    training set was empty (the manifest records that it trained nothing), student_k unchanged."""
    store = RunStore(config.run.data_dir, config.run_id()).round(round_index)
    label = f"{config.student.model}@round{round_index + 1}"
    record = store.manifest().get("stages", {}).get("fine-tune") or {}
    if record.get("trained") is False:
        kept = record.get("student") or {}
        if kept.get("base"):
            return ModelRef(str(kept["base"]), kept.get("adapter"), label)
        return dataclasses.replace(round_student(config, round_index, base), label=label)
    folder = store.path / TRAINED_MODEL
    if not folder_complete(folder):
        raise ConfigError(
            f"run {config.run_id()}: round {round_index} has no trained student at {folder}; "
            f"run its training stage first"
        )
    return model_at(folder, base, label)


def round_student(config: FairConfig, round_index: int, base: ModelRef) -> ModelRef:
    """student_k, the model round k starts from: the base model for round 0, else round k-1's student."""
    return base if round_index == 0 else trained_student(config, round_index - 1, base)
