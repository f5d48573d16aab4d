"""Tokenization of `TrainSample`s for completion-only training and the padding collator that batches them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fair_core.records import TrainSample
from fair_core.students.formatting import encode_prompt

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedSamples:
    """Tokenized samples ready for the collator, and how many were dropped (no completion token left)."""

    features: list[dict[str, Any]]
    dropped: int
    truncated: int


def encode_samples(
    samples: Sequence[TrainSample],
    tokenizer: Any,
    max_length: int,
    chat_template: bool | None = None,
    system_prompt: str | None = None,
) -> EncodedSamples:
    """Tokenize each sample as `encode_prompt(prompt) + tokens(completion) + [eos]`.

    The prompt goes through `fair_core.students.formatting.encode_prompt`, exactly as at inference time, so
    the model learns to continue the very text it will be given. Sequences longer than `max_length` keep
    the prompt and lose the completion's tail (eos included); a sample with no completion token left is
    dropped and counted. Each feature: input_ids, prompt_len, weight, length (for length grouping).
    """
    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise ValueError("the tokenizer has no eos token; completions could not be terminated")
    features: list[dict[str, Any]] = []
    dropped = truncated = 0
    for sample in samples:
        prompt_ids = encode_prompt(tokenizer, sample.prompt, chat_template, system_prompt)
        completion_ids = [*tokenizer(sample.completion, add_special_tokens=False)["input_ids"], eos_id]
        room = max_length - len(prompt_ids)
        if room <= 0:
            dropped += 1
            continue
        if len(completion_ids) > room:
            truncated += 1
            completion_ids = completion_ids[:room]
        input_ids = prompt_ids + completion_ids
        features.append(
            {
                "input_ids": input_ids,
                "prompt_len": len(prompt_ids),
                "weight": float(sample.weight),
                "length": len(input_ids),
            }
        )
    return EncodedSamples(features=features, dropped=dropped, truncated=truncated)


@dataclass(frozen=True)
class CompletionCollator:
    """Right-pads a list of features into tensors: input_ids, attention_mask, labels, weights.

    labels are the input ids with IGNORE_INDEX on prompt tokens and on padding, so the loss is taken on
    the completion (and its eos) only; padding is found by position, never by token id (pad may equal eos).
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids, attention_mask, labels = [], [], []
        for feature in features:
            ids = list(feature["input_ids"])
            padding = width - len(ids)
            prompt_len = int(feature["prompt_len"])
            input_ids.append(ids + [self.pad_token_id] * padding)
            attention_mask.append([1] * len(ids) + [0] * padding)
            labels.append([IGNORE_INDEX] * prompt_len + ids[prompt_len:] + [IGNORE_INDEX] * padding)
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "weights": torch.tensor([float(f["weight"]) for f in features], dtype=torch.float32),
        }
