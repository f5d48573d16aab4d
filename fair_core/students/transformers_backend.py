"""`StudentBackend` on Hugging Face transformers (+ an optional peft LoRA adapter); CPU or one GPU."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fair_core.students.base import Generation, GenerationParams, ProgressFn
from fair_core.students.formatting import encode_prompt
from fair_core.students.models import quiet_progress_bars
from fair_core.students.stopping import cut_at_stop

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def plan_batches(
    lengths: Sequence[int], batch_size: int, token_budget: int | None, max_new_tokens: int
) -> list[tuple[int, int]]:
    """`[start, stop)` ranges over prompts sorted longest first: at most `batch_size` rows, and at most
    `token_budget` tokens counting each row at the batch's width (its first, longest prompt) plus
    `max_new_tokens`. A prompt over the budget on its own still gets a batch of one."""
    batches: list[tuple[int, int]] = []
    start = 0
    while start < len(lengths):
        row_tokens = lengths[start] + max_new_tokens
        rows = batch_size if token_budget is None else max(1, min(batch_size, token_budget // row_tokens))
        stop = min(start + rows, len(lengths))
        batches.append((start, stop))
        start = stop
    return batches


def pick_device(device: str | None = None) -> torch.device:
    """`device` if given, else the first GPU when there is one, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The torch dtype for `dtype`; "auto" is bfloat16 on a GPU that supports it, else float32."""
    if dtype != "auto":
        return _DTYPES[dtype]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class TransformersStudent:
    """A student loaded with transformers; batched, left-padded, length-sorted generation with a KV cache
    under `torch.inference_mode`, batches bounded by `batch_size` rows and `token_budget` tokens.

    `adapter_path` is a peft adapter folder applied on top of `model_path` (not merged). Prompts are plain
    text, wrapped with `fair_core.students.formatting.encode_prompt` exactly as in training.
    """

    def __init__(
        self,
        model_path: Path | str,
        adapter_path: Path | str | None = None,
        dtype: str = "auto",
        batch_size: int = 16,
        token_budget: int | None = None,
        chat_template: bool | None = None,
        system_prompt: str | None = None,
        device: str | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if token_budget is not None and token_budget < 1:
            raise ValueError("token_budget must be >= 1 (or None)")
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.chat_template = chat_template
        self.system_prompt = system_prompt
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        with quiet_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(
                str(model_path), dtype=pick_dtype(dtype, self.device)
            )
            if adapter_path is not None:
                from peft import PeftModel

                if not (Path(adapter_path) / "adapter_config.json").is_file():
                    raise FileNotFoundError(
                        f"{adapter_path}: not a peft adapter folder (no adapter_config.json)"
                    )
                model = PeftModel.from_pretrained(model, str(adapter_path), is_trainable=False)
        self.model: Any = model.to(self.device).eval()
        self.eos_token_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return sorted(i for i in ids if i is not None)

    def encode(self, prompt: str) -> list[int]:
        """Token ids the model sees for `prompt` (chat template applied when configured)."""
        return encode_prompt(self.tokenizer, prompt, self.chat_template, self.system_prompt)

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        progress: ProgressFn | None = None,
    ) -> list[Generation]:
        """Answer `prompts` (in input order); batches are formed longest prompt first, bounded by
        `batch_size` rows and `token_budget` tokens; `progress(done, total)` after each batch."""
        encoded = [self.encode(p) for p in prompts]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        batches = plan_batches(
            [len(encoded[i]) for i in order], self.batch_size, self.token_budget, params.max_new_tokens
        )
        results: list[Generation | None] = [None] * len(encoded)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        done = 0
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(params.seed)
            for start, stop in batches:
                batch = order[start:stop]
                for index, generation in zip(
                    batch, self._generate_batch([encoded[i] for i in batch], params), strict=True
                ):
                    results[index] = generation
                done += len(batch)
                if progress is not None:
                    progress(done, len(order))
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"no generation for prompts {missing}")
        return [r for r in results if r is not None]

    def _generate_batch(self, batch: list[list[int]], params: GenerationParams) -> list[Generation]:
        from transformers import GenerationConfig

        pad_id = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in batch], device=self.device)
        attention_mask = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device
        )
        sampling: dict[str, Any] = {"do_sample": False}
        if not params.greedy:
            sampling = {
                "do_sample": True,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "top_k": 0,
            }
        stops: dict[str, Any] = {}
        if params.stop:
            stops = {"stop_strings": list(params.stop)}
        config = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            eos_token_id=self.eos_token_ids,
            pad_token_id=pad_id,
            use_cache=True,
            **sampling,
            **stops,
        )
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=config,
            tokenizer=self.tokenizer if params.stop else None,
        )
        return [self._decode(row, params) for row in output[:, width:].tolist()]

    def _decode(self, row: list[int], params: GenerationParams) -> Generation:
        """A generated row, up to the token that ended it: its first end-of-sequence token, or the token
        that completed a stop string (the batch pads a finished row, and the pad may be the eos token), or
        without trailing padding when the batch's longest answer ran to `max_new_tokens`."""
        length = next((i + 1 for i, tok in enumerate(row) if tok in self.eos_token_ids), len(row))
        text = self.tokenizer.decode(row[:length], skip_special_tokens=True)
        text, stopped = cut_at_stop(text, params.stop)
        if stopped:
            length = self._stop_length(row[:length], params.stop)
        elif length == len(row) and row and row[-1] not in self.eos_token_ids:
            pad_id = self.tokenizer.pad_token_id
            while length > 0 and row[length - 1] == pad_id:
                length -= 1
        return Generation(text=text, completion_tokens=length, token_ids=tuple(row[:length]))

    def _stop_length(self, row: list[int], stops: Sequence[str]) -> int:
        """The shortest prefix of `row` whose text holds a stop string (where generation stopped)."""
        low, high = 1, len(row)
        while low < high:
            middle = (low + high) // 2
            if cut_at_stop(self.tokenizer.decode(row[:middle], skip_special_tokens=True), stops)[1]:
                high = middle
            else:
                low = middle + 1
        return low

    def close(self) -> None:
        """Drop the model and free its memory."""
        self.model = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
