"""Local source: the raw public files under `cfg.path` (a folder, or one file read for every split).

Which file serves which split (file names are matched case-insensitively inside the folder):

- gsm8k: `<split>.jsonl` (train.jsonl 7473, test.jsonl 1319).
- svamp: `<split>.json` when the folder has it (the ChilleD train.json/test.json layout); otherwise the single
  `SVAMP.json` (or the file given as `path`), divided deterministically: rows sorted by `ID` (natural order),
  shuffled with `random.Random(42)`, the first 70 % (700 of 1000) are "train", the rest (300) "test". This
  mirrors ChilleD/SVAMP's recipe (seed 42, ratio 0.7) but NOT its exact assignment. The split asked is "train"
  or "test", or the config's `train_split` / `test_split` (which then mean the same two parts).
- strategyqa: `<split>.json`; "test" (and "validation"/"dev"/"eval") read `dev.json` when there is no file of
  that name: the public release has train (2061) and dev (229) only; its test set has no answers.
- logiqa: the release has `Train.txt`, `Eval.txt` and `Test.txt` (8 lines per item: blank, answer letter,
  context, question, 4 options "A.xxx"). "train" reads `Train.txt`, or `Eval.txt` when Train.txt is absent
  (as in ../shared/datasets); "validation"/"dev"/"eval" read `Eval.txt`; "test" reads `Test.txt`.

Any other split, a missing folder, a missing or an empty file raises `DatasetError` naming the path and what
exists (`split_source` finds the file without reading it, for `preflight.check_dataset`). A line or row with
bad JSON or a byte that is not UTF-8 is skipped alone, named by file and line (see textfiles.py).
"""

from __future__ import annotations

import functools
import logging
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fair_core.config import DatasetConfig
from fair_core.datasets.base import DatasetError, LoadResult, RowError, RowSource, collect, split_limit
from fair_core.datasets.converters import CONVERTERS, RowConverter
from fair_core.datasets.limits import input_check
from fair_core.datasets.textfiles import bad_byte, json_list, jsonl_rows, read_text
from fair_core.records import Example

logger = logging.getLogger(__name__)

SVAMP_FILE = "SVAMP.json"
SVAMP_SEED = 42
SVAMP_TRAIN_RATIO = 0.7
DEV_ALIASES = ("validation", "dev", "eval")
# A leading option label: "A." / "b?" / "C．" (any letter A-D; see `strip_option_label` for "A xxx").
OPTION_LABEL = re.compile(r"^\s*[A-Da-d]\s*[.．、?？]\s*")


def load_local(cfg: DatasetConfig, split: str) -> LoadResult:
    """Load one split of a paper dataset from raw files under `cfg.path`."""
    path = split_source(cfg, split)
    if cfg.name == "svamp":
        rows = _svamp_rows(cfg, path, split)
    else:
        rows = _logiqa_rows(path) if cfg.name == "logiqa" else _rows(path)
    convert = functools.partial(_convert, CONVERTERS[cfg.name], split)
    result = collect(
        rows,
        convert,
        where=f"{cfg.name} split {split!r} ({path})",
        limit=split_limit(cfg, split),
        check=input_check(cfg),
    )
    note = hub_split_note(cfg, split, path)
    if note:
        result.notes.append(note)
    return result


def hub_split_note(cfg: DatasetConfig, split: str, path: Path) -> str | None:
    """One line saying how the local file of `split` differs from the split of the dataset's Hub copy (the
    one the paper code loads), or None where they hold the same questions (gsm8k; ChilleD's own SVAMP or
    StrategyQA files, which have a test.json).
    """
    part = _split_role(cfg, split)
    if cfg.name == "strategyqa" and _find(path.parent, "test.json") is None:  # test.json: not the release
        return (
            f"strategyqa split {split!r} reads {path.name} of the original release (train 2061 / dev 229 "
            f"questions), not the Hub copy ChilleD/StrategyQA the paper used (train 1603 / test 687): "
            "the splits and so the accuracies differ from the paper's; use source: hub to match it"
        )
    if cfg.name == "svamp" and _svamp_divided(cfg, path):
        return (
            f"svamp split {split!r}: {path.name} is divided here 70 % train / 30 % test (seed {SVAMP_SEED}), "
            "the sizes of the Hub copy ChilleD/SVAMP the paper used but not its assignment of questions: the "
            "splits differ from the paper's; use source: hub (or ChilleD's train.json/test.json) to match it"
        )
    if cfg.name == "logiqa" and part == "train" and path.name.lower() == "eval.txt":
        return (
            f"logiqa split {split!r} reads {path.name}, the 651-question validation set (Train.txt is "
            "absent), not the 7376-question train split of the Hub copy lucasmccabe/logiqa the paper used: "
            "the training data differ from the paper's; add Train.txt or use source: hub to match it"
        )
    return None


def _split_role(cfg: DatasetConfig, split: str) -> str:
    """'train' or 'test' when `split` is one of them or the config's train/test split, else `split`."""
    if split in ("train", "test"):
        return split
    return "train" if split == cfg.train_split else "test" if split == cfg.test_split else split


def split_source(cfg: DatasetConfig, split: str) -> Path:
    """The raw file that serves `split` (nothing is read); `DatasetError` naming what is missing."""
    if not cfg.path:
        raise DatasetError(
            f"{cfg.name} split {split!r}: `dataset.path` is required with `source: local` "
            "(a folder or file of the raw dataset)"
        )
    root = Path(cfg.path).expanduser()
    if not root.exists():
        raise DatasetError(f"{cfg.name} split {split!r}: dataset.path {root} does not exist")
    if cfg.name == "svamp":
        return _svamp_path(cfg, root, split)
    return root if root.is_file() else _split_file(cfg.name, root, split)


def _convert(converter: RowConverter, split: str, row: Any, index: int) -> Example:
    return converter(row, split, index)


def _find(folder: Path, name: str) -> Path | None:
    """`folder/name`, matching the name case-insensitively."""
    for child in sorted(folder.iterdir()):
        if child.is_file() and child.name.lower() == name.lower():
            return child
    return None


def _missing(dataset: str, folder: Path, split: str, wanted: list[str]) -> DatasetError:
    present = sorted(p.name for p in folder.iterdir() if p.is_file())
    return DatasetError(
        f"{dataset} split {split!r}: no {' or '.join(wanted)} in {folder} "
        f"(files there: {', '.join(present) or 'none'})"
    )


def _split_file(dataset: str, folder: Path, split: str) -> Path:
    """The raw file of `split` for gsm8k, strategyqa and logiqa (see the module docstring)."""
    if dataset == "gsm8k":
        candidates = [f"{split}.jsonl"]
    elif dataset == "strategyqa":
        candidates = [f"{split}.json"] + (["dev.json"] if split in ("test", *DEV_ALIASES) else [])
    else:  # logiqa
        known = {"train": ["Train.txt", "Eval.txt"], "test": ["Test.txt"]}
        known.update({alias: ["Eval.txt"] for alias in DEV_ALIASES})
        if split not in known:
            raise DatasetError(
                f"logiqa split {split!r}: unknown split for the raw files in {folder} "
                f"(known: {', '.join(known)}; files: Train.txt, Eval.txt, Test.txt)"
            )
        candidates = known[split]
    for name in candidates:
        path = _find(folder, name)
        if path is not None:
            if name != candidates[0]:
                logger.info("%s split %r: %s is absent, reading %s", dataset, split, candidates[0], path)
            return path
    raise _missing(dataset, folder, split, candidates)


def _rows(path: Path) -> RowSource:
    """Rows of a .jsonl (one object a line) or .json (a list of objects) file."""
    if path.suffix.lower() == ".jsonl":
        return jsonl_rows(path)
    return _json_rows(path, json_list(path))


def _json_rows(path: Path, data: list[Any]) -> Iterator[tuple[int, str, Any]]:
    for index, row in enumerate(data):
        yield index, f"{path.name} index {index}", row


def _natural_key(value: Any) -> tuple[Any, ...]:
    """'chal-10' sorts after 'chal-9'."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(value)))


def svamp_split(rows: list[Any]) -> tuple[list[Any], list[Any]]:
    """Deterministic train/test division of SVAMP.json: sort by ID, shuffle with seed 42, first 70 % train."""

    def key(item: tuple[int, Any]) -> tuple[Any, ...]:
        index, row = item
        if isinstance(row, dict) and row.get("ID") is not None:
            return (0, _natural_key(row["ID"]))
        return (1, index)  # rows without an ID (they will be skipped) keep their file order

    ordered = [row for _, row in sorted(enumerate(rows), key=key)]
    random.Random(SVAMP_SEED).shuffle(ordered)
    cut = round(len(ordered) * SVAMP_TRAIN_RATIO)
    return ordered[:cut], ordered[cut:]


def _svamp_path(cfg: DatasetConfig, root: Path, split: str) -> Path:
    """`<split>.json` of the ChilleD layout, else SVAMP.json (or `root` itself), for a known split."""
    if root.is_dir():
        per_split = _find(root, f"{split}.json")
        if per_split is not None and per_split.name.lower() != SVAMP_FILE.lower():
            return per_split
        path = _find(root, SVAMP_FILE)
        if path is None:
            raise _missing("svamp", root, split, [f"{split}.json", SVAMP_FILE])
    else:
        path = root
    if split not in ("train", "test", cfg.train_split, cfg.test_split):
        raise DatasetError(
            f"svamp split {split!r}: {path} has no splits; it is divided into 'train' (70 %) "
            "and 'test' (30 %)"
        )
    return path


def _svamp_divided(cfg: DatasetConfig, path: Path) -> bool:
    """Whether `path` is the single SVAMP file divided here (not a folder's own `<split>.json`)."""
    return not Path(cfg.path or "").expanduser().is_dir() or path.name.lower() == SVAMP_FILE.lower()


def _svamp_rows(cfg: DatasetConfig, path: Path, split: str) -> RowSource:
    if not _svamp_divided(cfg, path):
        return _rows(path)  # the folder's own `<split>.json`
    part = split if split in ("train", "test") else "train" if split == cfg.train_split else "test"
    train, test = svamp_split(json_list(path))
    return _json_rows(path, train if part == "train" else test)


def _logiqa_rows(path: Path) -> Iterator[tuple[int, str, Any]]:
    """Items of a LogiQA text file, as rows in the Hub's format (context, query, options, correct_option)."""
    lines = read_text(path).splitlines()
    blocks: list[tuple[int, list[str]]] = []  # (first line number, non-blank lines) between blank lines
    after_blank = True
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            after_blank = True
            continue
        if after_blank:
            blocks.append((number, []))
        blocks[-1][1].append(line.strip())
        after_blank = False
    for index, (start, block) in enumerate(blocks):
        location = f"{path.name} line {start}"
        if len(block) < 3:
            yield index, location, RowError(f"malformed item: {len(block)} lines at line {start}, expected 7")
            continue
        bad = next(((start + i, b) for i, line in enumerate(block) if (b := bad_byte(line))), None)
        if bad is not None:
            yield index, location, RowError(f"not UTF-8: {path.name} line {bad[0]}: {bad[1]}")
            continue
        answer, context, query, *options = block
        row = {
            "context": context,
            "query": query,
            "options": [strip_option_label(text, position) for position, text in enumerate(options)],
            "correct_option": answer,
        }
        yield index, location, row


def strip_option_label(text: str, position: int) -> str:
    """'A.xxx' -> 'xxx'; also 'A xxx' when A is this option's own letter (a few raw lines use a space)."""
    stripped = OPTION_LABEL.sub("", text, count=1)
    if stripped != text:
        return stripped.strip()
    own = "ABCD"[position] if position < 4 else None
    if own and text.startswith(own + " "):
        return text[2:].strip()
    return text.strip()
