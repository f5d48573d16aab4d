"""The `fair` command end to end: a missing key, a run killed during round 2 and resumed, the reference."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fair_core.config import load_config
from tests.e2e.helpers import FAIR, fair, write_config


def test_missing_key_is_one_clear_sentence(cli_env: dict[str, str]) -> None:
    result = fair(["run", "--config", "paper-svamp"], cli_env, timeout=120)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert (
        "error: teacher 'gpt' (openai, gpt-3.5-turbo) needs an API key: set the environment variable"
        in message
    )
    assert "OPENAI_API_KEY" in message and "Traceback" not in result.stderr


def test_bad_config_names_the_field(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.yaml", {"training": {"alpha": 3}, "teachers": []})
    result = fair(["run", "--config", str(bad)], cli_env, timeout=120)
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "training.alpha" in result.stderr


def _tiny(tmp_path: Path, model: Path) -> Path:
    return write_config(
        tmp_path / "tiny.yaml",
        {
            "run": {"name": "tiny-e2e", "rounds": 2, "data_dir": str(tmp_path / "data")},
            "dataset": {
                "name": "reasoning_gym",
                "gym": {
                    "task": "chain_sum",
                    "train_size": 6,
                    "test_size": 3,
                    "options": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
                },
            },
            "student": {"model": str(model), "max_new_tokens": 8},
            "teachers": [{"name": n, "model": n} for n in ("gpt", "gemini", "mixtral")],
            "training": {
                "learning_rate": 1e-3,
                "epochs": 4,
                "batch_size": 2,
                "grad_accum": 1,
                "max_length": 512,
                "save_steps": 2,
            },
            "simulator": {"enabled": True, "latency_ms": 20},
        },
    )


@pytest.mark.slow
def test_killed_during_round_two_resumes_without_repeating_round_one(
    cli_env: dict[str, str], tmp_path: Path, tiny_model_dir: Path
) -> None:
    config_path = _tiny(tmp_path, tiny_model_dir)
    config = load_config(config_path)
    run_dir = tmp_path / "data" / "runs" / config.run_id()
    marker = run_dir / "round=1" / "mistakes.parquet"
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(
        [FAIR, "run", "--config", str(config_path)],
        env=cli_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "round 2 never started"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its Prefect server, mid round 2
    process.wait()
    assert not (run_dir / "round=1" / "evaluation.parquet").exists()
    round_one = {
        p: p.stat().st_mtime_ns
        for p in (run_dir / "round=0").rglob("*")
        if p.is_file() and p.name != "manifest.json" and ".lock" not in p.name
    }
    assert any(p.name == "adapter_model.safetensors" for p in round_one)

    # `fair resume` finds the run's stored config by its id
    result = fair(["resume", config.run_id(), "--data-dir", str(tmp_path / "data")], cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in round_one} == round_one, "round 1 was recomputed"
    assert (run_dir / "round=1" / "evaluation.parquet").exists()
    assert "round 1" in result.stderr and "Requests received by the teacher simulator" in result.stderr
    assert "Finished in state Cached" in result.stderr


@pytest.mark.slow
def test_import_reference_reproduces_the_acceptances(
    cli_env: dict[str, str], tmp_path: Path, shared_datasets: Path
) -> None:
    result = fair(
        ["import-reference", str(shared_datasets / "reference_round0"), "--data-dir", str(tmp_path)],
        cli_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stderr.split())
    assert "3 accepted: 167, 2 accepted: 127, 1 accepted: 71, 0 accepted: 22" in out
    assert "gemini 221/221" in out and "gpt 286/286" in out and "mixtral 319/319" in out
    assert (tmp_path / "runs" / "reference-svamp" / "round=0" / "acceptance.parquet").is_file()
