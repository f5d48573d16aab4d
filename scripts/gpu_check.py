"""GPU readiness (transformers student + LoRA steps, GPU vs CPU): `python scripts/gpu_check.py [--device cuda] [--model PATH] [--steps N] [--json out.json]`."""  # noqa: E501

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import transformers  # noqa: E402

# Only modules that need nothing beyond torch, transformers and peft (fair_core.config needs pydantic, so
# the LoRA settings and the precision rule of fair_core.training.model are restated below).
from fair_core.records import TrainSample  # noqa: E402
from fair_core.students.base import GenerationParams  # noqa: E402
from fair_core.students.models import build_tiny_llama, quiet_progress_bars  # noqa: E402
from fair_core.students.transformers_backend import TransformersStudent, pick_dtype  # noqa: E402
from fair_core.training.collate import CompletionCollator, encode_samples  # noqa: E402
from fair_core.training.loss import weighted_completion_loss  # noqa: E402

SEED = 0
PROMPTS = [
    "What is 2 + 3?",
    "Tom has 3 apples and buys 4 more. How many apples does he have now?",
    "A train travels 60 miles in 2 hours. What is its speed?",
    "True or false? 7 - 4 = 3.",
    "Answer the question. Think step by step: what is 12 times 5?",
    "Options: A, B, C, D. Which is the correct option?",
]
#: training.lora_r / lora_alpha / lora_dropout / target_modules defaults (fair_core.config.training)
LORA: dict[str, Any] = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05}
LORA["target_modules"] = ["q_proj", "k_proj", "v_proj", "o_proj"]
TRAIN_PAIRS = [
    ("What is 2 + 3?", "2 + 3 = 5. The answer is 5."),
    ("What is 7 - 4?", "7 - 4 = 3. The answer is 3."),
    ("Tom has 3 apples and buys 4 more. How many?", "He has 3 + 4 = 7 apples. #### 7"),
    ("A train travels 60 miles in 2 hours. Its speed?", "60 / 2 = 30 miles per hour. #### 30"),
]


@dataclass
class GenRun:
    device: str
    dtype: str
    tokens: int
    seconds: float
    tokens_per_s: float
    token_ids: list[list[int]] = field(repr=False)
    compared_to: str | None = None
    identical: int | None = None
    first_divergence: list[int | None] | None = None  # per prompt; None: identical


@dataclass
class TrainRun:
    device: str
    precision: str
    steps: int
    losses: list[float]
    steps_per_s: float


def seed_all(seed: int = SEED) -> None:
    """Python, numpy and torch (CPU and every GPU) from one seed."""
    transformers.set_seed(seed)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def generate(model_dir: Path, device: str, dtype: str, max_new_tokens: int) -> GenRun:
    """Greedy answers to PROMPTS with the project's `TransformersStudent` (its default batching), timed
    after one short warm-up call."""
    seed_all()
    student = TransformersStudent(model_dir, dtype=dtype, device=device)
    try:
        student.generate(PROMPTS, GenerationParams(max_new_tokens=2))  # warm-up (CUDA kernels, caches)
        sync(student.device)
        start = time.perf_counter()
        out = student.generate(PROMPTS, GenerationParams(max_new_tokens=max_new_tokens, greedy=True))
        sync(student.device)
        seconds = time.perf_counter() - start
        resolved = str(student.model.dtype).removeprefix("torch.")
    finally:
        student.close()
    tokens = sum(g.completion_tokens for g in out)
    ids = [list(g.token_ids) for g in out]
    return GenRun(device, resolved, tokens, seconds, tokens / seconds if seconds > 0 else 0.0, ids)


def first_divergence(a: list[int], b: list[int]) -> int | None:
    """The first position where two token sequences differ (a length difference counts); None if equal."""
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def compare(run: GenRun, ref: GenRun) -> None:
    run.compared_to = f"{ref.device} {ref.dtype}"
    run.first_divergence = [first_divergence(a, b) for a, b in zip(run.token_ids, ref.token_ids, strict=True)]
    run.identical = sum(d is None for d in run.first_divergence)


def training_precision(device: torch.device) -> str:
    """training.precision auto (fair_core.training.model.resolve_precision): bf16 on a GPU with bf16, else
    fp32 here (fp16 would need loss scaling, which this check does not exercise)."""
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def train(model_dir: Path, device_name: str, steps: int, lr: float) -> TrainRun:
    """`steps` AdamW steps of a new LoRA adapter (the project's defaults) on one fixed batch: fp32 master
    weights, bf16 autocast on a GPU that has it, the project's collator and weighted completion loss."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seed_all()
    device = torch.device(device_name)
    precision = training_precision(device)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    with quiet_progress_bars(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing.*", FutureWarning)
        base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        model: Any = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **LORA)).to(device).train()
    samples = [
        TrainSample(f"s{i}", "rationale" if i % 2 == 0 else "feedback", p, c, 1.0)
        for i, (p, c) in enumerate(TRAIN_PAIRS)
    ]
    features = encode_samples(samples, tokenizer, max_length=256).features
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch = {k: v.to(device) for k, v in CompletionCollator(pad_token_id=pad_id)(features).items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    losses: list[float] = []
    start = 0.0
    for step in range(steps):
        if step == 1:  # the first step is a warm-up (allocations, kernel selection): not timed
            sync(device)
            start = time.perf_counter()
        with autocast:
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
            ).logits
        loss = weighted_completion_loss(
            logits, batch["labels"], batch["weights"], batch["segment_ids"], batch["task_ids"]
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # training.max_grad_norm
        optimizer.step()
        losses.append(float(loss.detach()))
    sync(device)
    seconds = time.perf_counter() - start
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return TrainRun(device_name, precision, steps, losses, (steps - 1) / seconds if seconds > 0 else 0.0)


@contextlib.contextmanager
def model_folder(path: str | None) -> Iterator[tuple[Path, str]]:
    """`--model PATH`, or a tiny random Llama (fair_core.students.models.build_tiny_llama, seed 0)."""
    if path is not None:
        yield Path(path), path
        return
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        yield build_tiny_llama(Path(tmp) / "tiny-random-llama", seed=SEED), f"tiny random Llama (seed {SEED})"


def table(gen: list[GenRun], trn: list[TrainRun]) -> str:
    rows = [("stage", "device", "dtype", "figure", "value", "check")]
    for g in gen:
        if g.first_divergence is None:
            check = "reference"
        else:
            where = ", ".join("-" if d is None else str(d) for d in g.first_divergence)
            same = f"{g.identical}/{len(g.first_divergence)} identical to {g.compared_to}"
            check = f"{same} (first divergence: {where})"
        rows.append(("generate", g.device, g.dtype, "tokens/s", f"{g.tokens_per_s:.1f}", check))
    for t in trn:
        down = "down" if t.losses[-1] < t.losses[0] else "NOT down"
        check = f"loss {t.losses[0]:.4f} -> {t.losses[-1]:.4f} ({down})"
        rows.append(("train", t.device, t.precision, "steps/s", f"{t.steps_per_s:.2f}", check))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[5] for r in rows
    )


def problems_of(gen: list[GenRun], trn: list[TrainRun]) -> list[str]:
    """What is really wrong (the exit status): no tokens, a same-device same-dtype mismatch (generation is
    not deterministic), a non-finite or not decreasing loss. bf16 vs fp32 divergence is only reported."""
    found = [f"generate {g.device} {g.dtype}: no tokens generated" for g in gen if g.tokens == 0]
    ref = gen[-1]
    for g in gen[:-1]:
        if (g.device, g.dtype) == (ref.device, ref.dtype) and g.identical != len(PROMPTS):
            found.append(f"generate {g.device} {g.dtype}: greedy outputs differ between two identical runs")
    for t in trn:
        if not all(math.isfinite(x) for x in t.losses):
            found.append(f"train {t.device}: non-finite loss {t.losses}")
        elif t.losses[-1] >= t.losses[0]:
            found.append(f"train {t.device}: loss did not go down ({t.losses[0]:.4f} -> {t.losses[-1]:.4f})")
    return found


def usage_error(args: argparse.Namespace) -> str | None:
    """One line naming the bad option, or None."""
    try:
        device = torch.device(args.device)
    except RuntimeError:
        return f"--device {args.device}: not a torch device (cuda, cuda:N or cpu)"
    if device.type == "cuda" and not torch.cuda.is_available():
        return f"--device {args.device} asked for, but torch {torch.__version__} sees no CUDA GPU"
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        return f"--device {args.device}: only {torch.cuda.device_count()} CUDA GPU(s) here"
    if device.type not in ("cuda", "cpu"):
        return f"--device {args.device}: only cuda and cpu are checked"
    if args.steps < 2:
        return f"--steps {args.steps}: at least 2 (the first step is an untimed warm-up)"
    if args.max_new_tokens < 1:
        return f"--max-new-tokens {args.max_new_tokens}: at least 1"
    if args.model is not None and not (Path(args.model) / "config.json").is_file():
        return f"--model {args.model}: not a local model folder (no config.json)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device, help="cuda, cuda:N or cpu (default: cuda if any)")
    parser.add_argument("--model", help="a local model folder (default: a tiny random Llama built here)")
    parser.add_argument("--steps", type=int, default=8, help="LoRA training steps (>= 2; default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="greedy tokens per prompt (32)")
    parser.add_argument("--lr", type=float, default=2e-3, help="LoRA learning rate (default 2e-3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    error = usage_error(args)
    if error:
        print(f"gpu_check: {error}", file=sys.stderr)
        return 2
    import peft

    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    versions = {m.__name__: m.__version__ for m in (torch, transformers, peft)}
    with model_folder(args.model) as (model_dir, model_name):
        stack = ", ".join(f"{k} {v}" for k, v in versions.items())
        print(f"gpu_check: {args.device}{f' ({gpu})' if gpu else ''}, {stack}; model: {model_name}")
        if device.type == "cpu":
            print("gpu_check: device cpu: the CPU is compared against itself (a determinism check)")
        gen = [generate(model_dir, args.device, "auto", args.max_new_tokens)]
        if device.type == "cuda" and pick_dtype("auto", device) != torch.float32:
            gen.append(generate(model_dir, args.device, "float32", args.max_new_tokens))
        gen.append(generate(model_dir, "cpu", "float32", args.max_new_tokens))
        for g in gen[:-1]:
            compare(g, gen[-1])
        trn = [train(model_dir, args.device, args.steps, args.lr)]
        if device.type == "cuda":
            trn.append(train(model_dir, "cpu", args.steps, args.lr))
    print(table(gen, trn))
    problems = problems_of(gen, trn)
    for problem in problems:
        print(f"gpu_check: FAILED: {problem}")
    if args.json is not None:
        figures = {
            "device": args.device,
            "gpu": gpu,
            "model": model_name,
            "versions": versions,
            "prompts": len(PROMPTS),
            "max_new_tokens": args.max_new_tokens,
            "generation": [{k: v for k, v in asdict(g).items() if k != "token_ids"} for g in gen],
            "training": [asdict(t) for t in trn],
            "problems": problems,
            "ok": not problems,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print("gpu_check: OK" if not problems else f"gpu_check: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
