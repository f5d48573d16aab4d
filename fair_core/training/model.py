"""Loading the model to train (LoRA on a base, a previous round's adapter, or full weights), the mixed
precision a device allows, and a hash of the trainable weights (to compare distributed ranks)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import torch

from fair_core.config import TrainingConfig

Precision = Literal["fp32", "bf16", "fp16"]


def resolve_precision(requested: str, cuda: bool | None = None) -> Precision:
    """training.precision -> what runs: auto is bf16 on a GPU with bf16, fp16 on an older GPU, fp32 on CPU.

    fp16 needs a CUDA GPU (its loss scaling is a GPU feature); bf16 needs a GPU with bf16 or runs on the CPU
    through autocast (correct, usually slower than fp32 there). Impossible requests raise ValueError."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    bf16_gpu = cuda and torch.cuda.is_bf16_supported()
    if requested == "auto":
        return "bf16" if bf16_gpu else ("fp16" if cuda else "fp32")
    if requested == "fp16" and not cuda:
        raise ValueError("training.precision=fp16 needs a CUDA GPU and none is available; use auto or fp32")
    if requested == "bf16" and cuda and not bf16_gpu:
        raise ValueError("training.precision=bf16: this GPU has no bf16 support; use fp16 or auto")
    if requested not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"training.precision={requested!r}: expected auto, fp32, bf16 or fp16")
    return requested  # type: ignore[return-value]


def load_model(base_model: Path, cfg: TrainingConfig, init_adapter: Path | None) -> Any:
    """The model to train, in fp32 (mixed precision autocasts the compute; the master weights stay fp32).

    method full: all weights of `init_adapter` (the previous round's full model) or of `base_model`.
    method lora: `init_adapter` trained further (its own r/alpha/targets apply) or a new adapter from cfg."""
    from transformers import AutoModelForCausalLM

    if cfg.method == "full":
        source = init_adapter if init_adapter is not None else base_model
        return AutoModelForCausalLM.from_pretrained(str(source), dtype=torch.float32)
    from peft import LoraConfig, PeftModel, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
    if init_adapter is not None:
        return PeftModel.from_pretrained(base, str(init_adapter), is_trainable=True)
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, lora)


def trainable_hash(model: torch.nn.Module) -> str:
    """sha256 over the names and exact bytes of the trainable parameters (same weights <=> same hash)."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def packing_isolates_samples(model: torch.nn.Module) -> bool:
    """Whether `model` keeps two samples packed in one row apart (position ids restarting at 0, no
    attention mask): the second sample's logits must equal its logits alone. transformers builds the
    block-diagonal mask for every model using its mask utilities (Llama, Qwen, Mistral, ...); a model with
    its own attention code may not, and would then silently attend across samples."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ids = torch.tensor([[3, 5, 7, 11, 13, 4, 6, 8, 10]])
            positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2, 3]])
            packed = model(input_ids=ids, position_ids=positions, use_cache=False).logits[0, 5:]
            alone = model(input_ids=ids[:, 5:], use_cache=False).logits[0]
        return bool(torch.allclose(packed.float(), alone.float(), atol=1e-3, rtol=1e-3))
    finally:
        model.train(was_training)
