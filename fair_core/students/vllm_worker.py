"""vLLM student worker, run with the vLLM environment's python (scripts/setup_vllm_env.sh):

    python -m fair_core.students.vllm_worker --input prompts.parquet --output completions.parquet \
        --model DIR [--adapter DIR] [--tensor-parallel-size N] [--max-new-tokens N] [--sampled --seed S] ...

Reads plain student prompts (column `prompt`), formats them exactly like the transformers backend
(`fair_core.students.formatting.encode_prompt`: same chat template, same token ids), generates with
`vllm.LLM.generate` (greedy = temperature 0; sampled = temperature/top_p with a per-request seed), applies the
round's LoRA adapter through `LoRARequest` (no merge), and writes one row per prompt, in input order: `index`,
`text`, `completion_tokens`, `prompt_tokens`, `finish_reason`, `token_ids`. Progress goes to stdout as
`FAIR-PROGRESS <done> <total>` lines; a failure ends with one `FAIR-ERROR <message>` line and exit code 2.
Imports only the standard library, pyarrow, transformers' tokenizer and vLLM: never Prefect.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fair_core.students.formatting import encode_prompt
from fair_core.students.stopping import cut_at_stop
from fair_core.students.vllm_engine import (
    WorkerError,
    chat_setting,
    configure_cpu_env,
    cpu_build,
    engine_args,
    eos_token_ids,
    lora_rank,
    parse_args,
)

PROGRESS_PREFIX = "FAIR-PROGRESS"
ERROR_PREFIX = "FAIR-ERROR"
TIMING_PREFIX = "FAIR-TIMING"
SETUP = "scripts/setup_vllm_env.sh"


def read_prompts(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise WorkerError(f"--input {path}: no such file")
    table = pq.read_table(path)
    if "prompt" not in table.column_names:
        raise WorkerError(f"--input {path}: no `prompt` column (columns: {table.column_names})")
    prompts = table.column("prompt").to_pylist()
    bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
    if bad:
        raise WorkerError(f"--input {path}: rows {bad[:10]} have no prompt text")
    return prompts


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write atomically (temp file + rename), so a killed worker never leaves a partial result."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("index", pa.int32()),
            ("text", pa.string()),
            ("completion_tokens", pa.int32()),
            ("prompt_tokens", pa.int32()),
            ("finish_reason", pa.string()),
            ("token_ids", pa.list_(pa.int32())),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    os.replace(tmp, path)


def exit_with_parent(interval_s: float = 2.0) -> None:
    """Exit when the process that started this worker dies (a killed Prefect task must not leave a worker
    holding a GPU): a daemon thread watches the parent's pid."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                print(f"{ERROR_PREFIX} the process that started this worker is gone; stopping", flush=True)
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def emit_progress(done: int, total: int) -> None:
    print(f"{PROGRESS_PREFIX} {done} {total}", flush=True)


def progress_bar_class() -> Any:
    """A tqdm class for `LLM.generate(use_tqdm=...)` that prints progress lines instead of drawing a bar."""
    from tqdm import tqdm

    class _Null:
        def write(self, _text: str) -> int:
            return 0

        def flush(self) -> None:
            pass

    class ProgressLines(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(file=_Null(), disable=False)
            super().__init__(*args, **kwargs)
            self._last_line = 0.0

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            now = time.monotonic()
            if self.n >= (self.total or 0) or now - self._last_line >= 1.0:
                self._last_line = now
                emit_progress(int(self.n), int(self.total or 0))
            return shown

    return ProgressLines


def run(args: argparse.Namespace) -> int:
    """Generate for every prompt of `--input` and write `--output`; returns the number of rows."""
    prompts = read_prompts(args.input)
    if args.adapter is not None:
        lora_rank(args.adapter)  # fail on a bad adapter before loading anything
    if args.tensor_parallel_size < 1:
        raise WorkerError("--tensor-parallel-size must be >= 1")
    if importlib.util.find_spec("vllm") is None:
        raise WorkerError(
            f"vLLM is not importable with {sys.executable}: create the vLLM environment with {SETUP}"
        )
    cpu = cpu_build()
    if cpu:
        configure_cpu_env()
    started = time.monotonic()
    from transformers import AutoConfig, AutoTokenizer

    if not Path(args.model).exists() and args.model.startswith(("/", ".", "~")):
        raise WorkerError(f"--model {args.model}: no such model folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        context = getattr(AutoConfig.from_pretrained(args.model), "max_position_embeddings", None)
    except (OSError, ValueError) as err:
        raise WorkerError(f"--model {args.model}: cannot load its tokenizer and config ({err})") from None
    chat = chat_setting(args.chat_template)
    encoded = [encode_prompt(tokenizer, p, chat, args.system_prompt) for p in prompts]
    if not encoded:
        write_results(args.output, [])
        return 0
    longest = max(len(ids) for ids in encoded)
    needed = longest + args.max_new_tokens
    if context is not None and needed > context:
        worst = max(range(len(encoded)), key=lambda i: len(encoded[i]))
        raise WorkerError(
            f"prompt #{worst} has {longest} tokens: with {args.max_new_tokens} new tokens it exceeds the "
            f"model's context of {context}"
        )
    try:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as err:
        raise WorkerError(f"vLLM does not import with {sys.executable} ({err}): rerun {SETUP}") from None
    llm = LLM(**engine_args(args, needed, cpu))
    loaded = time.monotonic()
    eos = eos_token_ids(args.model, tokenizer)
    common: dict[str, Any] = {
        "max_tokens": args.max_new_tokens,
        "stop": list(args.stop) or None,
        "stop_token_ids": eos,
        "skip_special_tokens": True,
    }
    if args.sampled:
        sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, seed=args.seed, **common)
    else:
        sampling = SamplingParams(temperature=0.0, **common)
    lora = LoRARequest("student-adapter", 1, str(args.adapter)) if args.adapter is not None else None
    outputs = llm.generate(
        [{"prompt_token_ids": ids} for ids in encoded],
        sampling,
        use_tqdm=progress_bar_class(),
        lora_request=lora,
    )
    generated = time.monotonic()
    rows = []
    for index, (ids, output) in enumerate(zip(encoded, outputs, strict=True)):
        completion = output.outputs[0]
        token_ids = list(completion.token_ids)
        text, _ = cut_at_stop(tokenizer.decode(token_ids, skip_special_tokens=True), args.stop)
        rows.append(
            {
                "index": index,
                "text": text,
                "completion_tokens": len(token_ids),
                "prompt_tokens": len(ids),
                "finish_reason": completion.finish_reason,
                "token_ids": token_ids,
            }
        )
    write_results(args.output, rows)
    tokens = sum(r["completion_tokens"] for r in rows)
    print(
        f"{TIMING_PREFIX} load_s={loaded - started:.2f} generate_s={generated - loaded:.2f} tokens={tokens}",
        flush=True,
    )
    return len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    exit_with_parent()
    try:
        count = run(args)
    except WorkerError as err:
        print(f"{ERROR_PREFIX} {err}", flush=True)
        return 2
    print(f"wrote {count} completions to {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
