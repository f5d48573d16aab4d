"""Open the configured student backend for a model: transformers, the vLLM worker or `vllm serve`."""

from __future__ import annotations

from fair_core.config import StudentConfig
from fair_core.refs import ModelRef
from fair_core.students.base import BackendUnavailableError, StudentBackend

__all__ = ["BackendUnavailableError", "choose_backend", "gpu_count", "open_student"]


def gpu_count() -> int:
    """CUDA GPUs visible to this process (0 with the CPU build of torch)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def choose_backend(cfg: StudentConfig) -> str:
    """ "transformers" or "vllm" for `cfg.backend`.

    auto: vllm when a `vllm serve` URL is configured, or when the vLLM environment exists and a GPU is
    present (on a CPU the transformers backend starts at once, where the vLLM worker spends a minute
    starting); else transformers. An explicit choice is taken as is (vllm runs on a CPU too).
    """
    if cfg.backend != "auto":
        return cfg.backend
    if cfg.vllm.base_url:
        return "vllm"
    from fair_core.students.vllm_backend import vllm_python

    return "vllm" if vllm_python(cfg.vllm.env) is not None and gpu_count() > 0 else "transformers"


def open_student(cfg: StudentConfig, model: ModelRef, shard: int = 0) -> StudentBackend:
    """A loaded student for `model` (base + optional LoRA adapter) with the configured backend.

    `shard` is the index of the inference shard this backend serves: on a machine with several GPUs,
    shards are spread over them (one GPU each, or `vllm.tensor_parallel_size` GPUs each for vLLM).
    """
    model = model.local()  # a trained student on object storage: its folder downloaded once
    backend = choose_backend(cfg)
    if backend == "vllm" and cfg.vllm.base_url:
        from fair_core.students.vllm_server_backend import VLLMServerStudent

        return VLLMServerStudent(
            cfg.vllm.base_url,
            model.base,
            model.adapter,
            api=cfg.vllm.api,
            served_model=cfg.vllm.served_model,
            api_key_env=cfg.vllm.api_key_env,
            chat_template=cfg.chat_template,
            system_prompt=cfg.system_prompt,
        )
    gpus = gpu_count()
    if backend == "vllm":
        from fair_core.students.vllm_backend import VLLMStudent, gpu_slot

        return VLLMStudent(
            model.base,
            model.adapter,
            env=cfg.vllm.env,
            dtype=cfg.dtype,
            chat_template=cfg.chat_template,
            system_prompt=cfg.system_prompt,
            tensor_parallel_size=cfg.vllm.tensor_parallel_size,
            kv_cache_gb=cfg.vllm.kv_cache_gb,
            gpu_memory_utilization=cfg.vllm.gpu_memory_utilization,
            enforce_eager=cfg.vllm.enforce_eager,
            cuda_visible_devices=gpu_slot(shard, cfg.vllm.tensor_parallel_size, gpus),
        )
    from fair_core.students.transformers_backend import TransformersStudent

    return TransformersStudent(
        model.base,
        adapter_path=model.adapter,
        dtype=cfg.dtype,
        batch_size=cfg.batch_size,
        token_budget=cfg.token_budget,
        chat_template=cfg.chat_template,
        system_prompt=cfg.system_prompt,
        device=f"cuda:{shard % gpus}" if gpus > 1 else None,
    )
