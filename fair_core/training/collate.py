"""Tokenization of `TrainSample`s for completion-only training and the padding collator that batches them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fair_core.records import TrainSample
from fair_core.students.formatting import encode_prompt
from fair_core.training.split import question_of

IGNORE_INDEX = -100

#: A feature's task as a number (the `task_ids` tensor; the token loss pools a batch's samples by it).
TASK_IDS = {"rationale": 0, "feedback": 1}


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
    dropped and counted. Each feature: input_ids, prompt_len, weight, length (for length grouping),
    task_id (`TASK_IDS`) and unit (its question and source round, for batch_unit=pair).
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
                "task_id": TASK_IDS.get(sample.task, 0),
                "unit": f"{sample.meta.get('round', '')}/{question_of(sample)}",
            }
        )
    return EncodedSamples(features=features, dropped=dropped, truncated=truncated)


BatchingMode = Literal["length_grouped", "packed", "padded"]


def _labels(ids: Sequence[int], prompt_len: int) -> list[int]:
    """Completion tokens as labels; the prompt (and always the first token, which nothing in its own
    sample predicts) masked."""
    return [IGNORE_INDEX] * max(prompt_len, 1) + list(ids[max(prompt_len, 1) :])


@dataclass(frozen=True)
class CompletionCollator:
    """Right-pads a list of features into tensors: weights, input_ids, attention_mask, labels, segment_ids.

    labels are the input ids with IGNORE_INDEX on prompt tokens and on padding, so the loss is taken on
    the completion (and its eos) only; padding is found by position, never by token id (pad may equal eos).
    segment_ids gives, per token, the index of its sample in the batch (-1: padding). `pad_to_length`
    pads every row to that width (the paper code's setup: every sample padded to max_length).
    `weights` comes first: Trainer counts a batch's samples from the first tensor.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None
    pad_to_length: int | None = None

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_length:
            width = max(width, self.pad_to_length)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids, attention_mask, labels, segments = [], [], [], []
        for index, feature in enumerate(features):
            ids = list(feature["input_ids"])
            padding = width - len(ids)
            input_ids.append(ids + [self.pad_token_id] * padding)
            attention_mask.append([1] * len(ids) + [0] * padding)
            labels.append(_labels(ids, int(feature["prompt_len"])) + [IGNORE_INDEX] * padding)
            segments.append([index] * len(ids) + [-1] * padding)
        return {
            "weights": torch.tensor([float(f["weight"]) for f in features], dtype=torch.float32),
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "segment_ids": torch.tensor(segments, dtype=torch.long),
            "task_ids": _task_ids(features),
        }


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Sample indices grouped into as few rows as hold them in at most `capacity` tokens each (a longer
    sample gets a row of its own), balanced so that the rows are about equally long: the batch is padded
    to its longest row, so balance is what removes the padding. Longest first, each to the shortest row
    (LPT); one more row whenever a row would overflow. Deterministic for given lengths."""
    if not lengths:
        return []
    limit = max(capacity, max(lengths))
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    count = max(1, -(-sum(lengths) // capacity))
    while True:
        rows: list[list[int]] = [[] for _ in range(count)]
        loads = [0] * count
        for index in order:
            row = min(range(count), key=lambda r: (loads[r], r))
            rows[row].append(index)
            loads[row] += lengths[index]
        if max(loads) <= limit or count >= len(lengths):
            return [row for row in rows if row]
        count += 1


@dataclass(frozen=True)
class PackedCollator:
    """Packs a batch's samples into as few, equally long rows of at most `capacity` tokens as fit.

    No attention mask is returned: position_ids restart at 0 for every sample, and transformers builds a
    block-diagonal causal mask from them (sdpa, eager) or runs its varlen kernels (flash-attention), so a
    token never attends to another sample. The tail padding of shorter rows is one more such block, never
    attended to by real tokens and masked out of the loss. The samples per step, and so the loss and the
    step count, are exactly those of the unpacked batch; only the padding goes.
    """

    pad_token_id: int
    capacity: int

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        rows = pack_rows([len(f["input_ids"]) for f in features], self.capacity)
        width = max(sum(len(features[i]["input_ids"]) for i in row) for row in rows)
        input_ids, position_ids, labels, segments = [], [], [], []
        for row in rows:
            ids_row: list[int] = []
            pos_row: list[int] = []
            lab_row: list[int] = []
            seg_row: list[int] = []
            for index in row:
                ids = list(features[index]["input_ids"])
                ids_row += ids
                pos_row += list(range(len(ids)))
                lab_row += _labels(ids, int(features[index]["prompt_len"]))
                seg_row += [index] * len(ids)
            padding = width - len(ids_row)
            input_ids.append(ids_row + [self.pad_token_id] * padding)
            position_ids.append(pos_row + list(range(padding)))
            labels.append(lab_row + [IGNORE_INDEX] * padding)
            segments.append(seg_row + [-1] * padding)
        return {
            "weights": torch.tensor([float(f["weight"]) for f in features], dtype=torch.float32),
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "position_ids": torch.tensor(position_ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "segment_ids": torch.tensor(segments, dtype=torch.long),
            "task_ids": _task_ids(features),
        }


def _task_ids(features: Sequence[dict[str, Any]]) -> Any:
    import torch

    return torch.tensor([int(f.get("task_id", 0)) for f in features], dtype=torch.long)


def group_units(features: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """batch_unit=pair: one item per question (and source round) holding all its features, in order of
    first appearance; `length` is their total (for length grouping)."""
    units: dict[str, list[dict[str, Any]]] = {}
    for feature in features:
        units.setdefault(str(feature.get("unit", id(feature))), []).append(feature)
    return [{"members": members, "length": sum(f["length"] for f in members)} for members in units.values()]


@dataclass(frozen=True)
class UnitCollator:
    """Collates a batch of units (`group_units`) as the batch of all their samples."""

    inner: Any

    def __call__(self, units: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self.inner([feature for unit in units for feature in unit["members"]])


def make_collator(batching: BatchingMode, pad_token_id: int, max_length: int, pairs: bool = False) -> Any:
    """The collator of a `training.batching` mode (of units, `group_units`, with `pairs`)."""
    collator: CompletionCollator | PackedCollator
    if batching == "packed":
        collator = PackedCollator(pad_token_id=pad_token_id, capacity=max_length)
    elif batching == "padded":
        collator = CompletionCollator(pad_token_id=pad_token_id, pad_to_length=max_length)
    else:
        collator = CompletionCollator(pad_token_id=pad_token_id)
    return UnitCollator(collator) if pairs else collator
