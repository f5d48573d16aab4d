"""Datasets: the paper's four tasks (Hub or raw files) and reasoning-gym, as `Example` rows.

result = load_examples(cfg.dataset, "train")   # LoadResult(examples=[...], skipped=[...])
"""

from fair_core.datasets.base import (
    DatasetError,
    DatasetUnavailable,
    LoadResult,
    SkippedRow,
    answer_kind,
    skipped_summary,
)
from fair_core.datasets.registry import load_examples

__all__ = [
    "DatasetError",
    "DatasetUnavailable",
    "LoadResult",
    "SkippedRow",
    "answer_kind",
    "load_examples",
    "skipped_summary",
]
