"""Distributed launch: accelerate configs, the command, 2 CPU processes with gloo, a SIGKILL and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import TrainingConfig
from fair_core.records import TrainSample
from fair_core.training.checkpoints import latest_checkpoint
from fair_core.training.launch import (
    ACCELERATE_DIR,
    DEFAULT_CONFIGS,
    launch_command,
    read_spec,
    run_distributed,
    write_spec,
)
from fair_core.training.trainer import RANKS_DIR, train_student

SAMPLES = [
    TrainSample(
        f"s{i}",
        "rationale" if i % 2 else "feedback",
        f"What is {i} + {i}?",
        f"{i} + {i} = {2 * i}. The answer is {2 * i}.",
        1.0,
        {"example_id": f"q{i}", "teacher": "t"},
    )
    for i in range(8)
]

EXPECTED_TYPES = {
    "ddp": "MULTI_GPU",
    "fsdp": "FSDP",
    "deepspeed-zero2": "DEEPSPEED",
    "deepspeed-zero3": "DEEPSPEED",
}


def _cfg(**overrides: Any) -> TrainingConfig:
    base: dict[str, Any] = dict(learning_rate=1e-2, epochs=3, batch_size=2, grad_accum=1, save_steps=1000)
    return TrainingConfig(**{**base, **overrides})


@pytest.mark.parametrize("name", sorted(p.name for p in ACCELERATE_DIR.glob("*.yaml")))
def test_accelerate_configs_parse(name: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ACCELERATE_DIR / name))
    strategy = name.removesuffix(".yaml").removeprefix("multinode-")
    assert config.distributed_type.value == EXPECTED_TYPES[strategy]
    assert config.num_machines == (2 if name.startswith("multinode-") else 1)
    assert config.mixed_precision == "no"  # training.precision decides
    if strategy.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(strategy[-1])
        assert "gradient_accumulation_steps" not in config.deepspeed_config  # follows training.grad_accum
    if strategy == "fsdp":
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_every_strategy_has_its_configs() -> None:
    names = {p.name for p in ACCELERATE_DIR.glob("*.yaml")}
    for strategy in EXPECTED_TYPES:
        assert {f"{strategy}.yaml", f"multinode-{strategy}.yaml"} <= names
    assert set(DEFAULT_CONFIGS.values()) <= names


def test_launch_command_and_spec(tmp_path: Path) -> None:
    cfg = _cfg(num_processes=4, distributed="fsdp")
    spec_path = write_spec(SAMPLES, tmp_path / "base", tmp_path / "out", cfg, seed=7, card={"round": 1})
    spec = read_spec(spec_path)
    assert spec.seed == 7 and spec.card == {"round": 1} and TrainingConfig(**spec.training) == cfg
    assert len(Path(spec.samples_file).read_text().splitlines()) == len(SAMPLES)
    command = launch_command(cfg, spec_path)
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert command[command.index("--config_file") + 1] == str(ACCELERATE_DIR / "fsdp.yaml")
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--main_process_port") + 1] == "0"  # one machine: any free port
    assert command[-4:] == ["-m", "fair_core.training.launch", "--spec", str(spec_path)]
    multinode = launch_command(
        cfg.model_copy(update={"accelerate_config": str(ACCELERATE_DIR / "multinode-ddp.yaml")}), spec_path
    )
    assert "--main_process_port" not in multinode  # the config's address and port stay
    with pytest.raises(ValueError, match=r"nowhere\.yaml: file not found"):
        launch_command(
            cfg.model_copy(update={"accelerate_config": str(tmp_path / "nowhere.yaml")}), spec_path
        )


def test_a_checkpoint_whose_state_file_is_cut_short_is_incomplete(tmp_path: Path) -> None:
    for step, state in ((4, "{}"), (8, '{"global_st'), (12, None)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if state is not None:  # killed while writing trainer_state.json (8) or before it (12)
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    assert latest_checkpoint(tmp_path, cleanup=False) == tmp_path / "checkpoint-4"
    assert (tmp_path / "checkpoint-8").exists() and (tmp_path / "checkpoint-12").exists()
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]


@pytest.mark.slow
def test_two_cpu_processes_end_with_the_same_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    """accelerate launch, 2 processes, gloo: both ranks hold identical weights and the loss goes down."""
    seen: list[dict[str, Any]] = []
    cfg = _cfg(num_processes=2, epochs=6, batch_size=1, validation_fraction=0.25)
    result = run_distributed(SAMPLES, tiny_model_dir, tmp_path, cfg, progress=seen.append, seed=0)
    ranks = [json.loads(p.read_text()) for p in sorted((tmp_path / RANKS_DIR).glob("rank-*.json"))]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["trainable_sha256"] == ranks[1]["trainable_sha256"]
    assert result.world_size == 2 and not result.reused
    assert result.steps == 6 * 6 // 2  # 6 training samples, 1 per process per step, 2 processes
    assert result.final_train_loss < 0.7 * result.losses[0][1]
    assert result.final_eval_loss < result.initial_eval_loss
    assert [e["step"] for e in seen if "loss" in e] == list(range(1, result.steps + 1))  # rank 0 only
    assert (result.model_dir / "adapter_model.safetensors").is_file()
    assert (result.model_dir / "README.md").is_file() and (result.model_dir / "loss.png").is_file()
    assert run_distributed(SAMPLES, tiny_model_dir, tmp_path, cfg).reused


@pytest.mark.slow
@pytest.mark.usefixtures("torch_single_thread")
def test_sigkill_mid_training_then_resume(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A training process killed with SIGKILL after a checkpoint; the rerun resumes from it and ends with
    the full step count."""
    cfg = _cfg(epochs=20, batch_size=2, save_steps=4)  # 80 steps, a checkpoint every 4
    total = 20 * len(SAMPLES) // 2
    spec = write_spec(SAMPLES, tiny_model_dir, tmp_path, cfg, seed=0)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "fair_core.training.launch", "--spec", str(spec)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while latest_checkpoint(tmp_path / "checkpoints", cleanup=False) is None:
            assert process.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = latest_checkpoint(tmp_path / "checkpoints")
    assert killed_at is not None and int(killed_at.name.split("-")[1]) < total
    assert not (tmp_path / "model").exists()

    result = train_student(SAMPLES, tiny_model_dir, tmp_path, cfg, seed=0)
    assert result.resumed_from is not None and result.resumed_from.startswith(str(tmp_path / "checkpoints"))
    assert int(Path(result.resumed_from).name.split("-")[1]) >= int(killed_at.name.split("-")[1])
    assert result.steps == total and [s for s, _ in result.losses] == list(range(1, total + 1))
