"""Helpers shared by the student backend tests: the prompts they answer, a saved LoRA adapter."""

from __future__ import annotations

from pathlib import Path

PROMPTS = [
    "What is 2 + 3?",
    "hi",
    "Tom has 3 apples and buys 4 more. How many apples does he have now?",
    "x",
    "A train travels 60 miles in 2 hours. What is its speed?",
    "1 2 3",
    "True or false?",
]


def save_adapter(base_dir: Path, out: Path, perturb: bool) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    if perturb:  # lora_B starts at zero (a no-op adapter); give it weights
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.5)
    model.save_pretrained(out)
    return out
