"""Cheap, offline checks of a dataset config before any work starts (`check_dataset`, raises ConfigError)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fair_core.config import DatasetConfig
from fair_core.datasets.base import DatasetError
from fair_core.datasets.limits import token_counter
from fair_core.datasets.textfiles import json_list, read_bytes


def check_dataset(dataset: DatasetConfig) -> None:
    """Raise `DatasetError`, a `ConfigError` (one line naming the setting or file at fault), for errors
    found without loading anything:

    - local files: `path` set and existing, the file of each split (train_split, test_split) present,
      readable and not empty (a .json file: a JSON list);
    - `tokenizer`, when set: loadable from local files;
    - reasoning-gym: the package installed, the task known, its options accepted by the task's config
      (nothing is generated);
    - custom: exactly one of `path` / `hub_id`, each split's file present (as for local files), a
      `checker` importable when answer_kind is checker (and only then);
    - Hub: nothing (no download); its errors are reported when the split is loaded (`check_hub`: is the
      Hub reachable at all, for commands about to load it).
    """
    if dataset.train_split == dataset.test_split:
        raise DatasetError(
            f"dataset: train_split and test_split are both {dataset.train_split!r}; "
            "the student would be evaluated on its training questions"
        )
    if dataset.name == "custom":
        check_custom(dataset)
    elif dataset.name == "reasoning_gym":
        check_gym(dataset)
    elif dataset.source == "local":
        check_local(dataset)
    check_tokenizer(dataset)


def check_local(dataset: DatasetConfig) -> None:
    """The raw file of every split exists, is readable and is not empty; a .json file is a JSON list."""
    from fair_core.datasets.local import split_source

    for split in (dataset.train_split, dataset.test_split):
        path = split_source(dataset, split)  # DatasetError naming what is missing
        check_file(path)


def check_file(path: Path) -> None:
    """`path` is readable and not empty; a .json file parses as a list of rows (cheap: files are MBs)."""
    if path.suffix.lower() == ".json":
        json_list(path)
    else:
        read_bytes(path)


def check_custom(dataset: DatasetConfig) -> None:
    """A custom dataset's source, split files and checker (see `check_dataset`)."""
    from fair_core.answer_text import load_checker
    from fair_core.datasets.custom import split_file

    custom = dataset.custom
    if bool(custom.path) == bool(custom.hub_id):
        raise DatasetError("dataset.custom: set exactly one of `path` (a local file or folder) and `hub_id`")
    if (custom.answer_kind == "checker") != bool(custom.checker):
        raise DatasetError(
            "dataset.custom.checker: give 'module:function' with answer_kind: checker, and only then"
        )
    if custom.checker:
        try:
            load_checker(custom.checker)
        except ValueError as err:
            raise DatasetError(f"dataset.custom.{err}") from None
    if custom.answer_kind == "choice" and not custom.columns.options:
        raise DatasetError("dataset.custom.columns.options: answer_kind choice needs an options column")
    if custom.path:
        for split in (dataset.train_split, dataset.test_split):
            check_file(split_file(custom, split))


def check_tokenizer(dataset: DatasetConfig) -> None:
    """`dataset.tokenizer`, when set, loads from local files."""
    if dataset.tokenizer and dataset.max_input_tokens is not None:
        token_counter(dataset)


def check_gym(dataset: DatasetConfig) -> None:
    """reasoning-gym is installed, the task exists, its options fit the task's config (nothing generated)."""
    gym = dataset.gym
    try:
        from reasoning_gym.factory import DATASETS
    except ImportError:
        raise DatasetError(
            "dataset.name reasoning_gym needs the reasoning-gym package: pip install reasoning-gym"
        ) from None
    entry = DATASETS.get(gym.task)
    if entry is None:
        near = sorted(name for name in DATASETS if gym.task.lower() in name or name in gym.task.lower())
        hint = f"did you mean {', '.join(near[:5])}?" if near else f"{len(DATASETS)} tasks, e.g. chain_sum"
        raise DatasetError(f"dataset.gym.task {gym.task!r}: no such reasoning-gym task ({hint})")
    _, config_cls = entry
    options = dict(gym.options)
    seed = options.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DatasetError(f"dataset.gym.options.seed: must be an integer, got {seed!r}")
    fields = {f.name for f in dataclasses.fields(config_cls)} - {"seed", "size"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise DatasetError(
            f"dataset.gym.options: unknown option(s) {', '.join(map(repr, unknown))} for task "
            f"{gym.task!r} (known: {', '.join(sorted(fields)) or 'none'})"
        )
    _validate_options(gym.task, config_cls, options, seed, max(gym.train_size, gym.test_size))


def _validate_options(task: str, config_cls: Any, options: dict[str, Any], seed: int, size: int) -> None:
    try:
        config = config_cls(seed=seed, size=size, **options)
        if hasattr(config, "validate"):
            config.validate()
    except Exception as err:  # reasoning-gym asserts in validate(); constructors raise TypeError/ValueError
        detail = str(err) or type(err).__name__
        raise DatasetError(f"dataset.gym.options {options} for task {task!r}: {detail}") from None


def hub_dataset_id(dataset: DatasetConfig) -> str | None:
    """The Hub id a dataset config loads from, or None for local files and reasoning-gym."""
    from fair_core.datasets.hub import HUB_SOURCES

    if dataset.name == "custom":
        return None if dataset.custom.path else dataset.custom.hub_id
    if dataset.name == "reasoning_gym" or dataset.source != "hub" or dataset.name not in HUB_SOURCES:
        return None
    return dataset.hub_id or HUB_SOURCES[dataset.name].hub_id


def check_hub(dataset: DatasetConfig) -> None:
    """A Hub dataset with the Hub unreachable: `DatasetUnavailable` (a ConfigError) at once, one line
    naming the dataset and how to use a local copy or HF_HUB_OFFLINE; nothing is downloaded. Without
    this, huggingface_hub retries for ~24 s and the load fails with a long traceback."""
    from fair_core.datasets.hub import check_reachable

    hub_id = hub_dataset_id(dataset)
    if hub_id is not None:
        check_reachable(f"dataset {dataset.name} (Hub {hub_id})")
