"""`StudentBackend` on vLLM: the `vllm_worker` module run by the separate vLLM environment's python.

vLLM cannot share an environment with Prefect (FastAPI and transformers pins), so the backend writes the
prompts to a Parquet file, starts the worker as a subprocess of the vLLM environment (made by
`scripts/setup_vllm_env.sh`), turns its `FAIR-PROGRESS` lines into progress callbacks and reads the
completions back. Each `generate` call loads the model once in a fresh worker.
"""

from __future__ import annotations

import collections
import logging
import os
import platform
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fair_core.students.base import BackendUnavailableError, Generation, GenerationParams, ProgressFn
from fair_core.students.vllm_worker import ERROR_PREFIX, PROGRESS_PREFIX, TIMING_PREFIX

#: Written by scripts/setup_vllm_env.sh once the environment is complete.
STAMP_FILE = ".fair-vllm-env"
ENV_VARIABLE = "FAIR_VLLM_ENV"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = "scripts/setup_vllm_env.sh"

log = logging.getLogger("fair.students.vllm")


class VLLMWorkerError(RuntimeError):
    """The vLLM worker failed; the message carries its error line or the last lines it printed."""


def vllm_env_dir(configured: str | None = None) -> Path:
    """The vLLM environment: `configured`, else $FAIR_VLLM_ENV, else .venv-vllm in the project folder."""
    chosen = configured or os.environ.get(ENV_VARIABLE)
    return Path(chosen).expanduser() if chosen else PROJECT_ROOT / ".venv-vllm"


def vllm_python(configured: str | None = None) -> Path | None:
    """The vLLM environment's python when the environment is complete (its setup stamp exists), else None."""
    env = vllm_env_dir(configured)
    python = env / "bin" / "python"
    return python if python.is_file() and (env / STAMP_FILE).is_file() else None


def vllm_platform_supported() -> bool:
    """Whether scripts/setup_vllm_env.sh can build the environment here (vLLM wheels: Linux x86_64/arm64)."""
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "aarch64")


def require_vllm_python(configured: str | None = None) -> Path:
    python = vllm_python(configured)
    if python is None:
        raise BackendUnavailableError(
            f"student.backend 'vllm' needs the vLLM environment at {vllm_env_dir(configured)}, which is "
            f"missing or incomplete: create it with `{SETUP_SCRIPT}` (or set student.vllm.env / "
            f"${ENV_VARIABLE} to an existing one)"
        )
    return python


def gpu_slot(shard: int, tensor_parallel_size: int, gpu_count: int) -> str | None:
    """CUDA_VISIBLE_DEVICES for shard `shard` of a machine with `gpu_count` GPUs (None: leave it alone).

    Shards take consecutive groups of `tensor_parallel_size` GPUs, wrapping around when there are more
    shards than groups (those then share GPUs).
    """
    if gpu_count <= 1 or tensor_parallel_size > gpu_count:
        return None
    groups = gpu_count // tensor_parallel_size
    first = (shard % groups) * tensor_parallel_size
    return ",".join(str(first + i) for i in range(tensor_parallel_size))


class VLLMStudent:
    """A student served by vLLM in its own environment; the LoRA adapter goes through `LoRARequest`."""

    def __init__(
        self,
        model_path: Path | str,
        adapter_path: Path | str | None = None,
        *,
        env: str | None = None,
        dtype: str = "auto",
        chat_template: bool | None = None,
        system_prompt: str | None = None,
        tensor_parallel_size: int = 1,
        kv_cache_gb: float | None = None,
        gpu_memory_utilization: float | None = None,
        enforce_eager: bool = False,
        cuda_visible_devices: str | None = None,
    ) -> None:
        self.python = require_vllm_python(env)
        if adapter_path is not None and not (Path(adapter_path) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{adapter_path}: not a peft adapter folder (no adapter_config.json)")
        self.model_path = str(model_path)
        self.adapter_path = str(adapter_path) if adapter_path is not None else None
        self.dtype = dtype
        self.chat_template = chat_template
        self.system_prompt = system_prompt
        self.tensor_parallel_size = tensor_parallel_size
        self.kv_cache_gb = kv_cache_gb
        self.gpu_memory_utilization = gpu_memory_utilization
        self.enforce_eager = enforce_eager
        self.cuda_visible_devices = cuda_visible_devices
        #: The last worker run's `load_s`, `generate_s` and `tokens`, as the worker measured them.
        self.last_timing: dict[str, float] = {}

    def command(self, prompts_file: Path, output_file: Path, params: GenerationParams) -> list[str]:
        """The worker's command line for one `generate` call."""
        chat = {None: "auto", True: "on", False: "off"}[self.chat_template]
        cmd = [str(self.python), "-m", "fair_core.students.vllm_worker"]
        cmd += ["--input", str(prompts_file), "--output", str(output_file), "--model", self.model_path]
        cmd += ["--tensor-parallel-size", str(self.tensor_parallel_size), "--dtype", self.dtype]
        cmd += ["--max-new-tokens", str(params.max_new_tokens), "--seed", str(params.seed)]
        cmd += ["--chat-template", chat]
        if not params.greedy:
            cmd += ["--sampled", "--temperature", str(params.temperature), "--top-p", str(params.top_p)]
        for stop in params.stop:
            cmd += ["--stop", stop]
        if self.adapter_path is not None:
            cmd += ["--adapter", self.adapter_path]
        if self.system_prompt is not None:
            cmd += ["--system-prompt", self.system_prompt]
        if self.kv_cache_gb is not None:
            cmd += ["--kv-cache-gb", str(self.kv_cache_gb)]
        if self.gpu_memory_utilization is not None:
            cmd += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        return cmd

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # the worker runs this checkout's fair_core, whichever checkout the environment was made from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.cuda_visible_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.cuda_visible_devices
        return env

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        progress: ProgressFn | None = None,
    ) -> list[Generation]:
        """Answer `prompts` (in input order) in one worker run."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not prompts:
            return []
        workdir = Path(tempfile.mkdtemp(prefix="fair-vllm-"))
        try:
            prompts_file, output_file = workdir / "prompts.parquet", workdir / "completions.parquet"
            pq.write_table(pa.table({"prompt": list(prompts)}), prompts_file)
            self._run(self.command(prompts_file, output_file, params), len(prompts), progress)
            rows = pq.read_table(output_file).to_pylist()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if len(rows) != len(prompts):
            raise VLLMWorkerError(
                f"the vLLM worker returned {len(rows)} completions for {len(prompts)} prompts"
            )
        rows.sort(key=lambda r: r["index"])
        return [Generation(r["text"], int(r["completion_tokens"]), tuple(r["token_ids"] or ())) for r in rows]

    def _run(self, cmd: list[str], total: int, progress: ProgressFn | None) -> None:
        log.info("starting the vLLM worker: %s", " ".join(cmd[1:4]))
        tail: collections.deque[str] = collections.deque(maxlen=40)
        error: str | None = None
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=self._environment(),
            start_new_session=True,  # the worker and vLLM's engine process can be stopped as one group
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                if line.startswith(PROGRESS_PREFIX):
                    done = int(line.split()[1])
                    if progress is not None:
                        progress(min(done, total), total)
                    continue
                if line.startswith(TIMING_PREFIX):
                    pairs = (item.split("=", 1) for item in line.split()[1:] if "=" in item)
                    self.last_timing = {key: float(value) for key, value in pairs}
                if line.startswith(ERROR_PREFIX):
                    error = line[len(ERROR_PREFIX) :].strip()
                tail.append(line)
                log.debug("vllm worker: %s", line)
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted: stop the worker and its engine process
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        if code != 0:
            detail = error or "\n".join(tail) or "(no output)"
            raise VLLMWorkerError(f"the vLLM worker failed (exit code {code}) with {self.python}: {detail}")

    def close(self) -> None:
        """Nothing stays loaded between calls: each worker exits with its model."""
