"""Distributed training: `accelerate launch` running `train_student` in every process.

Entry point of each process: `python -m fair_core.training.launch --spec <output_dir>/launch/spec.json`
(started by `run_distributed`, or by hand on the other nodes of a multi-node run; see
deployments/accelerate/README.md). A spec run without accelerate trains in one process.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from fair_core.config import TrainingConfig
from fair_core.records import TrainSample
from fair_core.training.checkpoints import latest_checkpoint, read_record, remove_partials
from fair_core.training.samples import sample_rows, samples_from_rows

#: deployments/accelerate/: the `deployments` package's data (a checkout's or an installed wheel's).
ACCELERATE_DIR = Path(str(files("deployments") / "accelerate"))
DEFAULT_CONFIGS = {"ddp": "ddp.yaml", "fsdp": "fsdp.yaml", "deepspeed": "deepspeed-zero2.yaml"}
PROGRESS_MARK = "@@fair-progress "
LAUNCH_DIR = "launch"


class TrainingLaunchError(RuntimeError):
    """The training processes failed; the message has the exit code, the log file and its last lines."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything `train_student` needs, as JSON (samples in a JSONL file beside it)."""

    samples_file: str
    base_model: str
    output_dir: str
    training: dict[str, Any]
    chat_template: bool | None = None
    system_prompt: str | None = None
    init_adapter: str | None = None
    seed: int = 0
    card: dict[str, Any] = field(default_factory=dict)


def write_spec(
    samples: Sequence[TrainSample],
    base_model: Path,
    output_dir: Path,
    cfg: TrainingConfig,
    **options: Any,
) -> Path:
    """Write `output_dir/launch/{samples.jsonl,spec.json}`; returns the spec path."""
    folder = Path(output_dir) / LAUNCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    samples_file = folder / "samples.jsonl"
    samples_file.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(samples)), encoding="utf-8")
    spec = LaunchSpec(
        samples_file=str(samples_file),
        base_model=str(base_model),
        output_dir=str(output_dir),
        training=cfg.model_dump(mode="json"),
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()},
    )
    path = folder / "spec.json"
    path.write_text(json.dumps(asdict(spec), indent=2), encoding="utf-8")
    return path


def read_spec(path: Path) -> LaunchSpec:
    return LaunchSpec(**json.loads(Path(path).read_text(encoding="utf-8")))


def accelerate_config_path(cfg: TrainingConfig) -> Path:
    """training.accelerate_config, else the shipped config of training.distributed."""
    path = Path(cfg.accelerate_config).expanduser() if cfg.accelerate_config else None
    path = path or ACCELERATE_DIR / DEFAULT_CONFIGS[cfg.distributed]
    if not path.is_file():
        raise ValueError(f"training.accelerate_config {path}: file not found")
    return path


def launch_command(cfg: TrainingConfig, spec_path: Path) -> list[str]:
    """`accelerate launch --config_file ... --num_processes N -m fair_core.training.launch --spec ...`.

    num_processes is the total over all machines (accelerate's meaning). On one machine a free port is
    picked (`--main_process_port 0`); a multi-node config keeps its main_process_ip/port."""
    config = accelerate_config_path(cfg)
    settings = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    command += ["--num_processes", str(cfg.num_processes)]
    if int(settings.get("num_machines", 1) or 1) <= 1:
        command += ["--main_process_port", "0"]
    return [*command, "-m", "fair_core.training.launch", "--spec", str(spec_path)]


def run_distributed(
    samples: Sequence[TrainSample],
    base_model: Path,
    output_dir: Path,
    cfg: TrainingConfig,
    *,
    progress: Callable[[dict[str, Any]], None] | None = None,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> Any:
    """Train in cfg.num_processes processes and return the saved `TrainResult`.

    Before launching, incomplete checkpoints and half-saved models of a killed run are removed here
    (once, not by every rank); the ranks then resume from the newest complete checkpoint (a shared
    folder on multi-node runs). Rank 0's progress lines are forwarded to `progress`; every output line
    goes to `output_dir/launch/train.log` (and `log`, when given). Options: chat_template, system_prompt,
    init_adapter, seed, card (as for `train_student`)."""
    from fair_core.training.result import TrainResult

    output_dir = Path(output_dir)
    final_dir = output_dir / "model"
    finished = read_record(final_dir)
    if finished is not None:
        return TrainResult.from_record(final_dir, finished)
    latest_checkpoint(output_dir / "checkpoints", cleanup=True)
    remove_partials(output_dir)
    spec_path = write_spec(samples, base_model, output_dir, cfg, **options)
    command = launch_command(cfg, spec_path)
    (spec_path.parent / "command.txt").write_text(" ".join(command) + "\n", encoding="utf-8")
    log_path = spec_path.parent / "train.log"
    tail: collections.deque[str] = collections.deque(maxlen=30)
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with log_path.open("a", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
        )
        assert process.stdout is not None
        for line in process.stdout:
            mark = line.find(PROGRESS_MARK)
            if mark >= 0:
                if progress is not None:
                    progress(json.loads(line[mark + len(PROGRESS_MARK) :]))
                continue
            log_file.write(line)
            tail.append(line.rstrip())
            if log is not None:
                log(line.rstrip())
        code = process.wait()
    record = read_record(final_dir)
    if code != 0 or record is None:
        raise TrainingLaunchError(
            f"distributed training ({cfg.num_processes} processes) failed with exit code {code}; "
            f"log: {log_path}; last lines:\n" + "\n".join(tail)
        )
    return dataclasses.replace(TrainResult.from_record(final_dir, record), reused=False)


def _print_progress(info: Mapping[str, Any]) -> None:
    print(PROGRESS_MARK + json.dumps(dict(info)), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """One training process: read the spec, run `train_student` (rank 0 prints progress lines)."""
    from fair_core.training.trainer import train_student

    parser = argparse.ArgumentParser(description="One FAIR training process (see the module docstring).")
    parser.add_argument("--spec", required=True, type=Path, help="spec.json written by run_distributed")
    args = parser.parse_args(argv)
    spec = read_spec(args.spec)
    rows = [json.loads(line) for line in Path(spec.samples_file).read_text(encoding="utf-8").splitlines()]
    rank = int(os.environ.get("RANK", "0"))
    train_student(
        samples_from_rows(rows),
        Path(spec.base_model),
        Path(spec.output_dir),
        TrainingConfig.model_validate(spec.training),
        chat_template=spec.chat_template,
        system_prompt=spec.system_prompt,
        init_adapter=Path(spec.init_adapter) if spec.init_adapter else None,
        seed=spec.seed,
        progress=_print_progress if rank == 0 else None,
        card=spec.card,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
