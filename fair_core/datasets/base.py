"""Shared dataset types: load results, skipped rows, errors, answer kinds and the row-collecting loop."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fair_core.config import ConfigError, DatasetConfig
from fair_core.records import AnswerKind, Example

logger = logging.getLogger(__name__)

ANSWER_KINDS: dict[str, AnswerKind] = {
    "gsm8k": "numeric",
    "svamp": "numeric",
    "strategyqa": "boolean",
    "logiqa": "choice",
    "reasoning_gym": "numeric",
    "custom": "exact",  # the config's `custom.answer_kind` decides; each Example carries its own kind
}


class DatasetError(ConfigError):
    """A dataset cannot be loaded at all; the message (one line) names the dataset, the file or Hub id and
    the split. A `ConfigError`: the CLI prints it as one `error:` line, and the task does not retry it."""


class DatasetUnavailable(DatasetError):
    """The Hub could not be reached or refused the split: may be temporary, so a task may retry it."""


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
    """The valid examples of one split, in source order, the rows that were skipped and the examples that
    were shortened to fit `max_input_tokens` (`truncated`, id and what was cut); `source` names the split
    and where it came from, e.g. "gsm8k split 'train' (data/gsm8k/train.jsonl)". `notes`: one-line warnings
    about the split as a whole, e.g. that local files split a dataset differently from its Hub copy."""

    examples: list[Example] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    truncated: list[SkippedRow] = field(default_factory=list)
    source: str = ""
    read: int = 0
    notes: list[str] = field(default_factory=list)


def answer_kind(dataset_name: str) -> AnswerKind:
    """Kind of gold answer of a dataset: numeric, boolean or choice ('reasoning_gym/<task>' is numeric)."""
    base = dataset_name.split("/", 1)[0]
    if base not in ANSWER_KINDS:
        raise DatasetError(f"unknown dataset {dataset_name!r}; known: {', '.join(ANSWER_KINDS)}")
    return ANSWER_KINDS[base]


def one_line(text: object, limit: int = 300) -> str:
    """`text` on one line (whitespace runs collapsed), at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
# A check of a converted example: it as is or shortened, with a note when shortened; or RowError.
Check = Callable[[Example], tuple[Example, "str | None"]]


def collect(
    rows: RowSource,
    convert: Converter,
    *,
    where: str,
    limit: int | None = None,
    check: Check | None = None,
) -> LoadResult:
    """Convert rows until `limit` valid examples; malformed rows and duplicate ids are skipped, not fatal.

    `check` (the input limits, `limits.input_check`) may skip or shorten an example. `where` names the source
    (`LoadResult.source`); `report_skipped` logs the skipped rows in one warning.
    """
    result = LoadResult(source=where)
    seen: set[str] = set()
    for index, location, row in rows:
        if limit is not None and len(result.examples) >= limit:
            break
        result.read += 1
        try:
            if isinstance(row, RowError):
                raise row
            example = convert(row, index)
            note = None
            if check is not None:
                example, note = check(example)
        except RowError as err:
            result.skipped.append(SkippedRow(err.row_id or location, str(err)))
            continue
        if example.id in seen:
            result.skipped.append(SkippedRow(example.id, "duplicate id"))
            continue
        seen.add(example.id)
        if note is not None:
            result.truncated.append(SkippedRow(example.id, note))
        result.examples.append(example)
    return result


def skipped_summary(result: LoadResult, first: int = 5) -> str | None:
    """'skipped 4 of 7 rows read (2 x too long; 2 x invalid JSON); first: line 2, ...', or None if none."""
    if not result.skipped and not result.truncated:
        return None
    parts = []
    if result.skipped:
        reasons = Counter(_reason_class(s.reason) for s in result.skipped)
        summary = "; ".join(f"{n} x {reason}" for reason, n in reasons.most_common())
        shown = ", ".join(s.row_id for s in result.skipped[:first])
        more = ", ..." if len(result.skipped) > first else ""
        parts.append(
            f"skipped {len(result.skipped)} of {result.read} rows read ({summary}); first: {shown}{more}"
        )
    if result.truncated:
        shown = ", ".join(s.row_id for s in result.truncated[:first])
        more = ", ..." if len(result.truncated) > first else ""
        parts.append(f"truncated {len(result.truncated)} over max_input_tokens: {shown}{more}")
    return "; ".join(parts)


def report_skipped(result: LoadResult) -> None:
    """One warning for the skipped and truncated rows of a load (nothing when there are none), and one per
    note of the load."""
    summary = skipped_summary(result)
    if summary:
        logger.warning("%s: %s", result.source, summary)
    for note in result.notes:
        logger.warning("%s", note)


def _reason_class(reason: str) -> str:
    """The reason without its row-specific detail (text after the first ':'), to count alike problems."""
    return reason.split(":", 1)[0]
