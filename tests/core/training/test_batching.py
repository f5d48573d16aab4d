"""Packing, length grouping and padding: rows, masks, attention isolation and the same loss in every mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fair_core.records import TrainSample
from fair_core.training.collate import (
    IGNORE_INDEX,
    CompletionCollator,
    PackedCollator,
    encode_samples,
    make_collator,
    pack_rows,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SAMPLES = [
    TrainSample("a", "rationale", "What is 2 + 3?", "2 + 3 = 5. The answer is 5.", 0.5),
    TrainSample(
        "b", "feedback", "Tom has 3 apples and buys 4 more. You said 12.", "You multiplied. It is 7.", 2.0
    ),
    TrainSample("c", "rationale", "What is 7 - 4?", "7 - 4 = 3.", 1.0),
    TrainSample("d", "feedback", "hi", "The answer is 10, because 5 + 5 = 10 and not 12.", 1.5),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def features(tokenizer: Any) -> list[dict[str, Any]]:
    return encode_samples(SAMPLES, tokenizer, max_length=512).features


def test_pack_rows_fewest_balanced_rows() -> None:
    rows = pack_rows([50, 30, 70, 20, 100, 120], capacity=100)
    assert sorted(i for row in rows for i in row) == list(range(6))
    assert rows == [[5], [4], [2, 3], [0, 1]]  # 120 alone (over capacity), 100, 70 + 20, 50 + 30
    assert pack_rows([30, 30, 30, 30], capacity=100) == [[0, 2], [1, 3]]  # 2 rows of 60, not 90 + 30
    assert pack_rows([60, 60, 60], capacity=100) == [[0], [1], [2]]
    assert pack_rows([], 10) == []


def test_packed_rows_restart_positions_and_mask_prompts(features: list[dict[str, Any]]) -> None:
    capacity = sum(f["length"] for f in features[:3])
    batch = PackedCollator(pad_token_id=0, capacity=capacity)(features)
    assert "attention_mask" not in batch
    ids, pos, labels, seg = (
        batch[k].tolist() for k in ("input_ids", "position_ids", "labels", "segment_ids")
    )
    assert len(ids) == 2 and batch["weights"].tolist() == [s.weight for s in SAMPLES]
    for index, feature in enumerate(features):
        row = next(r for r in range(len(seg)) if index in seg[r])
        start = seg[row].index(index)
        n, p = feature["length"], feature["prompt_len"]
        assert seg[row][start : start + n] == [index] * n
        assert ids[row][start : start + n] == feature["input_ids"]
        assert pos[row][start : start + n] == list(range(n))
        assert labels[row][start : start + p] == [IGNORE_INDEX] * p
        assert labels[row][start + p : start + n] == feature["input_ids"][p:]
    for row in range(len(ids)):  # tail padding: its own position block, no label, no sample
        tail = [t for t in range(len(seg[row])) if seg[row][t] == -1]
        assert all(labels[row][t] == IGNORE_INDEX for t in tail)
        assert [pos[row][t] for t in tail] == list(range(len(tail)))


def test_padded_mode_pads_every_row_to_max_length(features: list[dict[str, Any]]) -> None:
    batch = make_collator("padded", 0, 128)(features)
    assert batch["input_ids"].shape == (4, 128)
    assert batch["segment_ids"].ge(0).sum() == sum(f["length"] for f in features)
    assert isinstance(make_collator("length_grouped", 0, 128), CompletionCollator)


def test_same_logits_and_loss_packed_padded_and_grouped(
    tiny_model_dir: Path, features: list[dict[str, Any]]
) -> None:
    """Attention never crosses samples in a packed row: the loss is the padded batch's, to float precision."""
    import torch
    from transformers import AutoModelForCausalLM, TrainingArguments

    from fair_core.training.loss import WeightedCompletionTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    trainer = WeightedCompletionTrainer(
        model=model, args=TrainingArguments(output_dir="unused", use_cpu=True, report_to="none")
    )
    losses = {}
    with torch.no_grad():
        for mode in ("packed", "padded", "length_grouped"):
            batch = make_collator(mode, 0, 96)(features)
            losses[mode] = trainer.compute_loss(model, batch)
        one_row = PackedCollator(pad_token_id=0, capacity=10_000)(features)
        assert one_row["input_ids"].shape[0] == 1
        losses["one row"] = trainer.compute_loss(model, one_row)
        # and per token: sample "b"'s logits inside the packed row equal its logits alone
        alone = model(input_ids=torch.tensor([features[1]["input_ids"]])).logits[0]
        packed = model(input_ids=one_row["input_ids"], position_ids=one_row["position_ids"], use_cache=False)
        where = one_row["segment_ids"][0].eq(1)
    torch.testing.assert_close(packed.logits[0][where], alone, atol=1e-4, rtol=1e-4)
    for mode, loss in losses.items():
        torch.testing.assert_close(loss, losses["padded"], atol=1e-5, rtol=1e-5, msg=mode)


def test_length_grouped_indices_sort_within_megabatches() -> None:
    import itertools
    import random

    import torch

    from fair_core.training.sampler import length_grouped_indices

    lengths = [random.Random(i).randint(20, 500) for i in range(100)]
    torch.manual_seed(0)
    indices = length_grouped_indices(lengths, batch_size=8, megabatch=100)
    assert sorted(indices) == list(range(100))
    batches = [indices[i : i + 8] for i in range(0, 100, 8)]
    assert max(lengths[i] for i in batches[0]) == max(lengths)  # the longest batch first
    # one megabatch: every batch is a run of the sorted lengths, so batches never overlap in length
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
    assert all(high <= next_low for (_, high), (next_low, _) in itertools.pairwise(spans))
    torch.manual_seed(0)
    assert length_grouped_indices(lengths, 8, 100) == indices  # the global generator decides
    assert length_grouped_indices(lengths, 8, 100) != indices  # and moves on each epoch


def test_the_tiny_llama_isolates_packed_samples(tiny_model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from fair_core.training.model import packing_isolates_samples

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).train()
    assert packing_isolates_samples(model)
    assert model.training  # left as it was
