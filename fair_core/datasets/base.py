"""Shared dataset types: load results, skipped rows, errors, answer kinds and the row-collecting loop."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fair_core.config import DatasetConfig
from fair_core.records import AnswerKind, Example

logger = logging.getLogger(__name__)

ANSWER_KINDS: dict[str, AnswerKind] = {
    "gsm8k": "numeric",
    "svamp": "numeric",
    "strategyqa": "boolean",
    "logiqa": "choice",
    "reasoning_gym": "numeric",
}


class DatasetError(Exception):
    """A dataset cannot be loaded at all; the message names the dataset, the file or Hub id and the split."""


class RowError(ValueError):
    """One row is malformed; the loader records it as a `SkippedRow` (with this message) and goes on.

    `row_id` is the row's own id when the converter could read it; otherwise the source's line/index is used.
    """

    def __init__(self, reason: str, row_id: str | None = None) -> None:
        super().__init__(reason)
        self.row_id = row_id


@dataclass(frozen=True)
class SkippedRow:
    """A malformed row left out of a load: its id (or line/index when it has none) and why."""

    row_id: str
    reason: str


@dataclass
class LoadResult:
    """The valid examples of one split, in source order, and the rows that were skipped."""

    examples: list[Example] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


def answer_kind(dataset_name: str) -> AnswerKind:
    """Kind of gold answer of a dataset: numeric, boolean or choice ('reasoning_gym/<task>' is numeric)."""
    base = dataset_name.split("/", 1)[0]
    if base not in ANSWER_KINDS:
        raise DatasetError(f"unknown dataset {dataset_name!r}; known: {', '.join(ANSWER_KINDS)}")
    return ANSWER_KINDS[base]


def split_limit(cfg: DatasetConfig, split: str) -> int | None:
    """`train_limit` for the training split, `test_limit` for the test split, no limit otherwise."""
    if split == cfg.train_split:
        return cfg.train_limit
    if split == cfg.test_split:
        return cfg.test_limit
    return None


# A row source yields (index in the source, where it is e.g. "line 5", the row or a RowError met reading it).
RowSource = Iterable[tuple[int, str, Any]]
# A converter turns (row, index) into an Example or raises RowError.
Converter = Callable[[Any, int], Example]


def collect(rows: RowSource, convert: Converter, *, where: str, limit: int | None = None) -> LoadResult:
    """Convert rows until `limit` valid examples; malformed rows and duplicate ids are skipped, not fatal.

    `where` names the source in the one warning logged when rows were skipped (e.g. "gsm8k train (path)").
    """
    result = LoadResult()
    seen: set[str] = set()
    read = 0
    for index, location, row in rows:
        if limit is not None and len(result.examples) >= limit:
            break
        read += 1
        try:
            if isinstance(row, RowError):
                raise row
            example = convert(row, index)
        except RowError as err:
            result.skipped.append(SkippedRow(err.row_id or location, str(err)))
            continue
        if example.id in seen:
            result.skipped.append(SkippedRow(example.id, "duplicate id"))
            continue
        seen.add(example.id)
        result.examples.append(example)
    if result.skipped:
        reasons = Counter(_reason_class(s.reason) for s in result.skipped)
        summary = "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common())
        logger.warning(
            "%s: skipped %d of %d rows read (%s); first: %s",
            where,
            len(result.skipped),
            read,
            summary,
            ", ".join(s.row_id for s in result.skipped[:5]),
        )
    return result


def _reason_class(reason: str) -> str:
    """The reason without its row-specific detail (text after the first ':'), to count alike problems."""
    return reason.split(":", 1)[0]
