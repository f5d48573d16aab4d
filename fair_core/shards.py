"""Contiguous shards of a table or a request list: bounds and part names, one scheme for every stage."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def shard_bounds(total: int, shards: int) -> list[tuple[int, int]]:
    """`[start, stop)` of `shards` contiguous parts of `total` items whose sizes differ by at most one, in
    order (the parts concatenated give everything back); parts are empty when there are more shards than
    items."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1 (got {shards})")
    cuts = [total * i // shards for i in range(shards + 1)]
    return list(itertools.pairwise(cuts))


def shard_slice(items: Sequence[T], shard: int, shards: int) -> Sequence[T]:
    """Shard `shard` (0-based) of `shards` of `items`."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: expected 0 <= shard < shards")
    start, stop = shard_bounds(len(items), shards)[shard]
    return items[start:stop]


def shard_part(name: str | None, shard: int, shards: int) -> str | None:
    """The table part holding a shard: `name` alone when not split, else `<name>-shard-00k-of-00n`
    (1-based k); with no `name`, `shard-00k-of-00n` (or None when not split)."""
    if shards == 1:
        return name
    suffix = f"shard-{shard + 1:03d}-of-{shards:03d}"
    return f"{name}-{suffix}" if name else suffix
