"""The runs under a data dir and their state (`fair runs`): rounds done, last stage, lock, accuracy, cost."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fair_core.locks import lock_path
from fair_core.report.summary import summary_rate
from fair_core.stats import Proportion
from fair_core.store.location import as_path
from fair_core.store.parquet import RoundStore, RunStore, atomic_write_bytes

#: How the last process that ran the run ended (written by `fair run`, `fair demo`, `fair resume`).
OUTCOME_FILE = "outcome.json"

RunState = Literal["finished", "running", "failed", "partial"]

#: The stages of a round in order, each with what shows it was reached in the round's manifest.
STAGES = (
    ("examples", "tables", "examples"),
    ("student answers", "tables", "student_outputs"),
    ("teacher committee", "tables", "teacher_calls"),
    ("peer review", "stages", "select-rationales"),
    ("training set", "stages", "build-training-set"),
    ("fine-tune", "stages", "fine-tune"),
    ("evaluation", "tables", "evaluation"),
)


@dataclass(frozen=True)
class RunInfo:
    """One run folder: what `fair runs` shows (None where a number is not known)."""

    run_id: str
    name: str | None
    rounds_done: int
    rounds_planned: int | None
    last_stage: str | None
    state: RunState
    detail: str | None  # why it failed, or who runs it
    test_accuracy: Proportion | None  # after the last round that has one
    test_round: int | None
    cost_usd: float
    modified: float  # seconds since the epoch


def lock_held(path: Path) -> bool:
    """Another process holds the run lock file `path` (an flock; we only test it, never keep it)."""
    if not path.is_file():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # drops our shared lock, if we got it
    return False


def write_outcome(root: Path, state: str, message: str | None = None) -> None:
    """Record how this process's run ended: `finished`, `failed` (with the error line) or `stopped`."""
    if not root.is_dir():
        return
    data = {"state": state, "message": message, "at": time.time()}
    atomic_write_bytes(root / OUTCOME_FILE, json.dumps(data).encode("utf-8"))


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_stage(round_index: int, manifest: Mapping[str, Any]) -> str | None:
    """'round 1: fine-tune' for the furthest stage a round's manifest shows (`done` when summarized)."""
    if manifest.get("summary"):
        return f"round {round_index}: done"
    reached = None
    for label, field, key in STAGES:
        entry = (manifest.get(field) or {}).get(key)
        if entry is not None:
            started = key == "fine-tune" and isinstance(entry, Mapping) and entry.get("trained") is None
            reached = f"{label} (started)" if started else label
    return f"round {round_index}: {reached}" if reached else None


def _round_cost(store: RoundStore, summary: Mapping[str, Any] | None) -> float:
    if summary and summary.get("cost_usd") is not None:
        return float(summary["cost_usd"])
    if not store.exists("teacher_calls"):
        return 0.0
    column = store.read("teacher_calls").column("cost_usd").to_pylist()
    return float(sum(v or 0.0 for v in column))


def _modified(root: Path) -> float:
    paths = [root, root / "config.json", root / OUTCOME_FILE, *root.glob("round=*/manifest.json")]
    return max((float(getattr(p.stat(), "st_mtime", 0) or 0) for p in paths if p.exists()), default=0.0)


def run_info(data_dir: str | Path, run_id: str) -> RunInfo:
    """The state of run `run_id` from its folder: stored config, round manifests, lock and outcome."""
    run = RunStore(data_dir, run_id)
    config = read_json(run.config_path)
    settings = config.get("run") if isinstance(config.get("run"), Mapping) else {}
    planned = settings.get("rounds") if isinstance(settings.get("rounds"), int) else None
    done, stage, accuracy, test_round, cost = 0, None, None, None, 0.0
    for k in run.rounds():
        store = run.round(k)
        manifest = store.manifest()
        summary = manifest.get("summary") or None
        done += bool(summary)
        stage = last_stage(k, manifest) or stage
        cost += _round_cost(store, summary)
        rate = summary_rate(summary, "test_accuracy_after") if summary else None
        if rate is not None:
            accuracy, test_round = rate, k
    outcome = read_json(run.root / OUTCOME_FILE)
    detail = None
    state: RunState
    lock = lock_path(data_dir, run.run_id)
    if lock_held(lock):
        state = "running"
        holder = read_json(lock)
        detail = f"pid {holder['pid']}" if holder.get("pid") else None
    elif planned is not None and done >= planned:
        state = "finished"
    elif outcome.get("state") == "failed":
        state, detail = "failed", outcome.get("message")
    else:
        state = "partial"
        detail = "stopped" if outcome.get("state") == "stopped" else None
    return RunInfo(
        run_id=run_id,
        name=settings.get("name"),
        rounds_done=done,
        rounds_planned=planned,
        last_stage=stage,
        state=state,
        detail=detail,
        test_accuracy=accuracy,
        test_round=test_round,
        cost_usd=round(cost, 6),
        modified=_modified(run.root),
    )


def list_runs(data_dir: str | Path) -> list[RunInfo]:
    """Every run folder under `<data_dir>/runs` (one with a config or a round), newest first."""
    runs = as_path(data_dir) / "runs"
    if not runs.is_dir():
        return []
    found = [
        run_info(data_dir, p.name)
        for p in runs.iterdir()
        if p.is_dir() and ((p / "config.json").is_file() or any(p.glob("round=*")))
    ]
    return sorted(found, key=lambda r: (-r.modified, r.run_id))
