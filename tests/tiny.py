"""The tiny task the fast flow and CLI tests share: 6 chain_sum training questions, 3 test ones."""

from __future__ import annotations

from typing import Any


def tiny_dataset() -> dict[str, Any]:
    """The `dataset` section of a tiny run (a fresh dict: callers may change it)."""
    return {
        "name": "reasoning_gym",
        "gym": {
            "task": "chain_sum",
            "train_size": 6,
            "test_size": 3,
            "options": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
        },
    }
