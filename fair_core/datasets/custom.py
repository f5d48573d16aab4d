"""Any task (`dataset.name: custom`): rows of a JSONL / JSON / Parquet / CSV file or a Hub dataset, mapped
to examples by `dataset.custom.columns`, checked by `dataset.custom.answer_kind`.

- Splits: `custom.splits` maps a split name to a file (relative to `path`'s folder, or `path` itself when
  it is a file), or, with `split_column`, to that column's value in the one file; with `hub_id`, to the Hub
  split.
  A split not in `splits` is the split name itself (a file `<split>.<ext>` in a `path` folder).
- Columns may be dotted ("choices.text"). Options: a list, or an object with "text" (and "label") lists.
- Gold answers: numeric / boolean / choice as for the paper's datasets; a choice gold may also be an option
  label ("1", as ARC has), an option's text or a 0-based index. exact / math / checker: any non-empty text.
- id: the `id` column, else "<split>-<row index>". A malformed row is skipped and reported by its id.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from fair_core.answer_text import CHECKER_PREFIX
from fair_core.answers import normalize_gold
from fair_core.config import DatasetConfig
from fair_core.config.data import CustomDatasetConfig
from fair_core.datasets.base import (
    DatasetError,
    DatasetUnavailable,
    LoadResult,
    RowError,
    RowSource,
    collect,
    one_line,
    split_limit,
)
from fair_core.datasets.limits import input_check
from fair_core.datasets.textfiles import json_list, jsonl_rows, read_bytes
from fair_core.records import AnswerKind, Example

FORMATS = (".jsonl", ".json", ".parquet", ".csv")
LETTERS = "ABCDEFGHIJ"


def example_kind(custom: CustomDatasetConfig) -> str:
    """The Example.kind of a custom dataset: its answer kind, or "checker:<module:function>"."""
    if custom.answer_kind == "checker":
        return CHECKER_PREFIX + (custom.checker or "")
    return custom.answer_kind


def split_file(custom: CustomDatasetConfig, split: str) -> Path:
    """The file holding `split` (DatasetError naming what is missing)."""
    if not custom.path:
        raise DatasetError("dataset.custom: set `path` (a local file or folder) or `hub_id`")
    root = Path(custom.path).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset.custom.path {root}: not found")
    if custom.split_column and root.is_file():
        path = root
    elif split in custom.splits:
        path = (root.parent if root.is_file() else root) / custom.splits[split]
    elif root.is_file():
        path = root
    else:
        found = [root / f"{split}{ext}" for ext in FORMATS if (root / f"{split}{ext}").is_file()]
        if not found:
            raise DatasetError(
                f"dataset.custom: no file for split {split!r} in {root} (looked for {split}.jsonl/.json/"
                ".parquet/.csv); map it in dataset.custom.splits"
            )
        path = found[0]
    if not path.is_file():
        raise DatasetError(f"dataset.custom: file {path} of split {split!r} not found")
    if path.suffix.lower() not in FORMATS:
        raise DatasetError(f"dataset.custom: {path}: unknown format; use {', '.join(FORMATS)}")
    return path


def file_rows(path: Path) -> RowSource:
    """(index, location, row or RowError) of a local file of any supported format."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from jsonl_rows(path)
        return
    if suffix == ".json":
        rows: Iterable[Any] = json_list(path)
    elif suffix == ".csv":
        text = read_bytes(path).decode("utf-8-sig", errors="replace")
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as err:  # not a Parquet file, truncated file
            raise DatasetError(f"dataset.custom: {path}: unreadable Parquet: {one_line(err)}") from None
    for index, row in enumerate(rows):
        yield index, f"{'line' if suffix == '.csv' else 'row'} {index + (2 if suffix == '.csv' else 1)}", row


def _load_hub_split(hub_id: str, config: str | None, split: str) -> Iterable[Mapping[str, Any]]:
    """Rows of one Hub split (the only function here that touches the Hub)."""
    import datasets

    return datasets.load_dataset(hub_id, config, split=split)


def _hub_rows(custom: CustomDatasetConfig, split: str) -> tuple[RowSource, str]:
    hub_split = custom.splits.get(split, split)
    where = f"custom/{custom.name} split {split!r} (Hub {custom.hub_id}, split {hub_split})"
    try:
        rows = _load_hub_split(cast(str, custom.hub_id), custom.hub_config, hub_split)
    except Exception as err:
        if isinstance(err, ValueError) and "split" in str(err).lower():
            raise DatasetError(f"{where}: {one_line(err)}") from None
        raise DatasetUnavailable(
            f"{where}: cannot load from the Hugging Face Hub: {type(err).__name__}: {one_line(err)}"
        ) from err
    return ((i, f"index {i}", row) for i, row in enumerate(rows)), where


def load_custom(cfg: DatasetConfig, split: str) -> LoadResult:
    """Load one split of a custom dataset (see the module docstring)."""
    custom = cfg.custom
    if custom.hub_id:
        rows, where = _hub_rows(custom, split)
    else:
        path = split_file(custom, split)
        rows, where = file_rows(path), f"custom/{custom.name} split {split!r} ({path})"
        if custom.split_column:
            rows = _only_split(rows, custom.split_column, custom.splits.get(split, split))
    convert = functools.partial(custom_example, custom, split)
    return collect(rows, convert, where=where, limit=split_limit(cfg, split), check=input_check(cfg))


def _only_split(rows: RowSource, column: str, value: str) -> RowSource:
    for index, location, row in rows:
        if not isinstance(row, Mapping) or str(column_value(row, column)) == value:
            yield index, location, row


def column_value(row: Mapping[str, Any], column: str) -> Any:
    """`row[column]`, following dots into nested objects ("choices.text"); None when absent."""
    value: Any = row
    if column in row:
        return row[column]
    for part in column.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(row: Mapping[str, Any], column: str | None) -> str | None:
    value = column_value(row, column) if column else None
    if value is None or (isinstance(value, float) and value != value):  # missing or NaN (CSV, Parquet)
        return None
    text = str(value).strip()
    return text or None


def _options(raw: Any) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    labels = None
    if isinstance(raw, Mapping):
        labels = tuple(str(x) for x in raw.get("label") or ()) or None
        raw = raw.get("text")
    if isinstance(raw, str):
        import json

        try:
            raw = json.loads(raw)  # a CSV cell holding a JSON list
        except ValueError:
            raw = [part.strip() for part in raw.split("|")]
    if not isinstance(raw, list | tuple) or not raw or len(raw) > len(LETTERS):
        raise ValueError(f"options must be a list of 1 to {len(LETTERS)} texts")
    return tuple(str(x).strip() for x in raw), labels


def _choice_gold(gold: Any, options: tuple[str, ...], labels: tuple[str, ...] | None) -> str:
    text = str(gold).strip()
    if labels and text in labels:
        return LETTERS[labels.index(text)]
    if isinstance(gold, int) and not isinstance(gold, bool) and 0 <= gold < len(options):
        return LETTERS[gold]
    if text in options:
        return LETTERS[options.index(text)]
    letter = normalize_gold(text, "choice")
    if letter not in LETTERS[: len(options)]:
        raise ValueError(f"answer {gold!r} names no option (there are {len(options)})")
    return letter


def custom_example(custom: CustomDatasetConfig, split: str, row: Any, index: int) -> Example:
    """One row -> `Example` through the column mapping, or RowError naming the row's id."""
    cols = custom.columns
    row_id = (_text(row, cols.id) if isinstance(row, Mapping) else None) or f"{split}-{index}"
    if not isinstance(row, Mapping):
        raise RowError(f"not an object: got {type(row).__name__}", row_id)
    question = _text(row, cols.question)
    if question is None:
        raise RowError(f"missing question (column {cols.question!r})", row_id)
    raw = column_value(row, cols.answer)
    if raw is None or str(raw).strip() == "":
        raise RowError(f"missing answer (column {cols.answer!r})", row_id)
    kind = example_kind(custom)
    options: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    try:
        if cols.options:
            options, labels = _options(column_value(row, cols.options))
        if custom.answer_kind == "choice":
            if options is None:
                raise ValueError("answer_kind choice needs an options column")
            answer = _choice_gold(raw, options, labels)
        else:
            answer = normalize_gold(raw, cast(AnswerKind, kind))
    except ValueError as err:
        raise RowError(f"unusable row: {err}", row_id) from None
    return Example(
        id=row_id,
        dataset=f"custom/{custom.name}",
        question=question,
        answer=answer,
        kind=cast(AnswerKind, kind),
        context=_text(row, cols.context),
        options=options,
        solution=_text(row, cols.solution),
    )
