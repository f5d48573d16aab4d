"""The length-grouped sampler: batches of similar lengths (little to pad or to balance when packing)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

MEGABATCH_STEPS = 50  # a megabatch holds the samples of up to this many optimizer steps


def length_grouped_indices(lengths: Sequence[int], batch_size: int, megabatch: int) -> list[int]:
    """Sample indices, every `batch_size` consecutive ones of similar length.

    A random permutation (torch's global generator, which Trainer seeds and restores on resume, the same in
    every rank) is cut into megabatches of `megabatch` samples; each is sorted by length and cut into
    batches, whose order inside the megabatch is shuffled (a short remainder batch goes last, so it never
    straddles two batches). The batch holding the longest sample goes first: an out-of-memory error shows
    at the first step, not hours later."""
    n = len(lengths)
    if n == 0:
        return []
    permutation = torch.randperm(n).tolist()
    ordered: list[list[int]] = []
    for start in range(0, n, megabatch):
        chunk = sorted(permutation[start : start + megabatch], key=lambda i: (-lengths[i], i))
        batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
        full = [b for b in batches if len(b) == batch_size]
        order = torch.randperm(len(full)).tolist()
        ordered += [full[j] for j in order] + [b for b in batches if len(b) < batch_size]
    longest = max(range(len(ordered)), key=lambda k: max(lengths[i] for i in ordered[k]))
    ordered.insert(0, ordered.pop(longest))
    return [i for batch in ordered for i in batch]


class LengthGroupedSampler(torch.utils.data.Sampler[int]):
    """Indices in batches of similar lengths (see `length_grouped_indices`).

    Unlike transformers' sampler, whose megabatches shrink to a quarter of a small dataset (so a few hundred
    samples are barely grouped), a megabatch here holds the samples of MEGABATCH_STEPS optimizer steps, or
    the whole set when it is smaller: a FAIR round's few hundred samples are sorted as one. What a step
    sees then changes little from epoch to epoch (the order of the batches does); the epoch's loss is the
    same mean over every sample."""

    def __init__(self, lengths: Sequence[int], batch_size: int, samples_per_step: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.megabatch = max(batch_size, MEGABATCH_STEPS * samples_per_step)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(length_grouped_indices(self.lengths, self.batch_size, self.megabatch))
