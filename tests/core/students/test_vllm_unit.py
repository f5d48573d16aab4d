"""The vLLM backend without vLLM: worker options and errors, environment lookup, backend choice."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fair_core.config import StudentConfig
from fair_core.refs import ModelRef
from fair_core.students import vllm_worker
from fair_core.students.base import BackendUnavailableError, GenerationParams
from fair_core.students.factory import choose_backend, open_student
from fair_core.students.vllm_backend import VLLMStudent, gpu_slot, vllm_env_dir, vllm_python
from fair_core.students.vllm_engine import WorkerError, engine_args, lora_rank, parse_args
from fair_core.students.vllm_worker import read_prompts


def _adapter(folder: Path, rank: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    return folder


def test_lora_rank_rounds_up_to_a_vllm_rank(tmp_path: Path) -> None:
    assert lora_rank(_adapter(tmp_path / "a", 4)) == 8
    assert lora_rank(_adapter(tmp_path / "b", 16)) == 16
    assert lora_rank(_adapter(tmp_path / "c", 17)) == 32
    with pytest.raises(WorkerError, match=r"adapter_config\.json"):
        lora_rank(tmp_path)
    with pytest.raises(WorkerError, match="above vLLM's largest"):
        lora_rank(_adapter(tmp_path / "d", 1024))


def test_engine_args(tmp_path: Path) -> None:
    args = parse_args(
        ["--input", "p", "--output", "o", "--model", "m", "--adapter", str(_adapter(tmp_path / "a", 4))]
    )
    cpu = engine_args(args, 300, cpu=True)
    assert cpu["dtype"] == "float32" and cpu["max_model_len"] == 300 and cpu["tensor_parallel_size"] == 1
    assert cpu["kv_cache_memory_bytes"] == 2 * 2**30  # not a share of the machine's memory on CPU
    assert cpu["enable_lora"] and cpu["max_lora_rank"] == 8 and cpu["max_loras"] == 1
    gpu = engine_args(
        parse_args(
            [
                "--input",
                "p",
                "--output",
                "o",
                "--model",
                "m",
                "--tensor-parallel-size",
                "4",
                "--gpu-memory-utilization",
                "0.8",
                "--dtype",
                "bfloat16",
            ]
        ),
        300,
        cpu=False,
    )
    assert gpu["tensor_parallel_size"] == 4 and gpu["gpu_memory_utilization"] == 0.8
    assert "kv_cache_memory_bytes" not in gpu and "enable_lora" not in gpu and gpu["dtype"] == "bfloat16"


def test_read_prompts_names_the_fault(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match="no such file"):
        read_prompts(tmp_path / "missing.parquet")
    pq.write_table(pa.table({"question": ["q"]}), tmp_path / "bad.parquet")
    with pytest.raises(WorkerError, match="no `prompt` column"):
        read_prompts(tmp_path / "bad.parquet")
    pq.write_table(pa.table({"prompt": ["q", None]}), tmp_path / "null.parquet")
    with pytest.raises(WorkerError, match=r"rows \[1\]"):
        read_prompts(tmp_path / "null.parquet")


def test_worker_without_vllm_says_how_to_get_it(tmp_path: Path) -> None:
    """Run with this (Prefect) environment's python, where vLLM is not installed: one clear error line."""
    pq.write_table(pa.table({"prompt": ["q"]}), tmp_path / "p.parquet")
    cmd = [sys.executable, "-m", "fair_core.students.vllm_worker", "--input", str(tmp_path / "p.parquet")]
    cmd += ["--output", str(tmp_path / "o.parquet"), "--model", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed in this environment")
    assert done.returncode == 2
    assert f"{vllm_worker.ERROR_PREFIX} vLLM is not importable" in done.stdout
    assert "scripts/setup_vllm_env.sh" in done.stdout
    assert not (tmp_path / "o.parquet").exists()


def test_missing_environment_names_the_setup_script(tmp_path: Path, tiny_model_dir: Path) -> None:
    assert vllm_python(str(tmp_path / "none")) is None
    with pytest.raises(BackendUnavailableError, match=r"scripts/setup_vllm_env\.sh"):
        VLLMStudent(tiny_model_dir, env=str(tmp_path / "none"))
    cfg = StudentConfig(model=str(tiny_model_dir), backend="vllm", vllm={"env": str(tmp_path / "none")})
    with pytest.raises(BackendUnavailableError, match=r"scripts/setup_vllm_env\.sh"):
        open_student(cfg, ModelRef(str(tiny_model_dir)))


def test_environment_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIR_VLLM_ENV", str(tmp_path / "from-env"))
    assert vllm_env_dir(None) == tmp_path / "from-env"
    assert vllm_env_dir(str(tmp_path / "configured")) == tmp_path / "configured"
    monkeypatch.delenv("FAIR_VLLM_ENV")
    assert vllm_env_dir(None).name == ".venv-vllm"
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    assert vllm_python(str(env)) is None  # no setup stamp: incomplete
    (env / ".fair-vllm-env").write_text("flavour=cpu")
    assert vllm_python(str(env)) == env / "bin" / "python"


def test_auto_picks_transformers_without_a_gpu(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    (env / ".fair-vllm-env").write_text("flavour=cpu")
    assert choose_backend(StudentConfig(vllm={"env": str(env)})) == "transformers"  # this machine has no GPU
    assert choose_backend(StudentConfig(backend="vllm", vllm={"env": str(tmp_path)})) == "vllm"
    assert choose_backend(StudentConfig(vllm={"base_url": "http://127.0.0.1:1/v1"})) == "vllm"
    assert (
        choose_backend(StudentConfig(backend="transformers", vllm={"base_url": "http://x/v1"}))
        == "transformers"
    )


def test_gpu_slots_per_shard() -> None:
    assert gpu_slot(0, 1, 0) is None and gpu_slot(3, 1, 1) is None
    assert [gpu_slot(s, 1, 4) for s in range(5)] == ["0", "1", "2", "3", "0"]
    assert [gpu_slot(s, 2, 4) for s in range(3)] == ["0,1", "2,3", "0,1"]
    assert gpu_slot(0, 8, 4) is None


def test_worker_command_carries_every_setting(tmp_path: Path, tiny_model_dir: Path) -> None:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    (env / ".fair-vllm-env").write_text("flavour=cpu")
    student = VLLMStudent(
        tiny_model_dir,
        _adapter(tmp_path / "lora", 8),
        env=str(env),
        chat_template=False,
        system_prompt="Be brief.",
        tensor_parallel_size=2,
        kv_cache_gb=0.5,
        enforce_eager=True,
    )
    params = GenerationParams(
        max_new_tokens=7, greedy=False, temperature=0.5, top_p=0.9, seed=3, stop=("\n\n",)
    )
    args = parse_args(student.command(tmp_path / "p.parquet", tmp_path / "o.parquet", params)[3:])
    assert (args.max_new_tokens, args.sampled, args.temperature, args.top_p, args.seed) == (
        7,
        True,
        0.5,
        0.9,
        3,
    )
    assert args.stop == ["\n\n"] and args.chat_template == "off" and args.system_prompt == "Be brief."
    assert args.adapter == tmp_path / "lora" and args.tensor_parallel_size == 2
    assert args.kv_cache_gb == 0.5 and args.enforce_eager and args.model == str(tiny_model_dir)
    greedy = parse_args(
        student.command(tmp_path / "p", tmp_path / "o", GenerationParams(max_new_tokens=3))[3:]
    )
    assert not greedy.sampled and greedy.stop == []
