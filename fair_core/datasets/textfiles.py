"""Raw text files read row by row: a bad byte or bad JSON spoils only its row, named by file and line.

- `.jsonl`: one object a line; a line that is not UTF-8 or not JSON is a `RowError` ("not UTF-8: train.jsonl
  line 3: byte 0xff at column 17").
- `.json` (a list of rows) and LogiQA's `.txt`: decoded as UTF-8 with undecodable bytes kept aside
  (`surrogateescape`); a row holding one is a `RowError` naming the file and the line of the byte.
- An empty file (nothing but whitespace) or an unreadable one raises `DatasetError` naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fair_core.datasets.base import DatasetError, RowError

# An undecodable byte 0x80-0xff as `surrogateescape` keeps it (U+DC80-U+DCFF).
ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
BOM = "\ufeff"


def read_bytes(path: Path) -> bytes:
    """The file's bytes; `DatasetError` when it cannot be read or holds nothing but whitespace."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read ({err.strerror or err})") from None
    if not data.strip() or data.strip() == BOM.encode():
        raise DatasetError(f"{path}: the file is empty; point `dataset.path` at the raw dataset files")
    return data


def read_text(path: Path) -> str:
    """The file as text; undecodable bytes are kept as U+DC80-U+DCFF (see `bad_byte`)."""
    return read_bytes(path).decode("utf-8", errors="surrogateescape").removeprefix(BOM)


def bad_byte(text: str) -> str | None:
    """'byte 0xff' for the first undecodable byte kept in `text`, or None when it has none."""
    match = ESCAPED_BYTE.search(text)
    return None if match is None else f"byte 0x{ord(match.group()) - 0xDC00:02x}"


def jsonl_rows(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(index, "line N", row or RowError) for each non-blank line of a .jsonl file."""
    index = 0
    for number, raw in enumerate(read_bytes(path).splitlines(), start=1):
        if not raw.strip():
            continue
        row: Any
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            row = RowError(
                f"not UTF-8: {path.name} line {number}: byte 0x{raw[err.start]:02x} at column {err.start + 1}"
            )
        else:
            try:
                row = json.loads(line.removeprefix(BOM) if number == 1 else line)
            except json.JSONDecodeError as err:
                row = RowError(f"invalid JSON: {path.name} line {number}: {err.msg}")
        yield index, f"line {number}", row
        index += 1


def json_list(path: Path) -> list[Any]:
    """The rows of a .json file holding a list; a row with an undecodable byte becomes a `RowError`."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: cannot read as JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    lines = _escaped_lines(text)
    if not lines:
        return data
    rows: list[Any] = []
    cursor = 0  # rows are in file order, so their undecodable bytes come in the order of `lines`
    for index, row in enumerate(data):
        count = _escaped_count(row)
        if count == 0:
            rows.append(row)
            continue
        where = f"line {lines[cursor][0]}: {lines[cursor][1]}" if cursor < len(lines) else "a byte"
        rows.append(RowError(f"not UTF-8: {path.name} index {index}, {where}"))
        cursor += count
    return rows


def _escaped_lines(text: str) -> list[tuple[int, str]]:
    """(line number, 'byte 0x..') of every undecodable byte in `text`, in order."""
    found: list[tuple[int, str]] = []
    line, last = 1, 0
    for match in ESCAPED_BYTE.finditer(text):
        line += text.count("\n", last, match.start())
        last = match.start()
        found.append((line, f"byte 0x{ord(match.group()) - 0xDC00:02x}"))
    return found


def _escaped_count(value: Any) -> int:
    """Undecodable bytes held in a parsed JSON value (keys and strings, at any depth)."""
    if isinstance(value, str):
        return len(ESCAPED_BYTE.findall(value))
    if isinstance(value, dict):
        return sum(_escaped_count(k) + _escaped_count(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_escaped_count(v) for v in value)
    return 0
