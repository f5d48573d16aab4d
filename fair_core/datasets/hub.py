"""Hugging Face Hub source: the paper's dataset copies, loaded with `datasets.load_dataset` (imported lazily).

| name       | Hub id (`cfg.hub_id` overrides) | config | splits                   |
|------------|---------------------------------|--------|--------------------------|
| gsm8k      | openai/gsm8k                    | main   | train 7473 / test 1319   |
| svamp      | ChilleD/SVAMP                   | -      | train 700 / test 300     |
| strategyqa | ChilleD/StrategyQA              | -      | train 1603 / test 687    |
| logiqa     | lucasmccabe/logiqa              | -      | train / validation / test|

The split name is passed to the Hub unchanged. `lucasmccabe/logiqa` is a loading-script dataset, which
`datasets` >= 4 refuses to run; when that happens the Hub's own Parquet conversion
(revision `refs/convert/parquet`) is read instead.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fair_core.config import DatasetConfig
from fair_core.datasets.base import (
    DatasetError,
    DatasetUnavailable,
    LoadResult,
    RowSource,
    collect,
    one_line,
    split_limit,
)
from fair_core.datasets.converters import CONVERTERS, RowConverter
from fair_core.datasets.limits import input_check
from fair_core.records import Example

PARQUET_REVISION = "refs/convert/parquet"
DEFAULT_ENDPOINT = "https://huggingface.co"
#: How long the reachability probe waits for a TCP connection to the Hub (DNS included).
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class HubSource:
    hub_id: str
    config: str | None = None


HUB_SOURCES: dict[str, HubSource] = {
    "gsm8k": HubSource("openai/gsm8k", "main"),
    "svamp": HubSource("ChilleD/SVAMP"),
    "strategyqa": HubSource("ChilleD/StrategyQA"),
    "logiqa": HubSource("lucasmccabe/logiqa"),
}


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or HF_DATASETS_OFFLINE) is set: `datasets` reads its cache, nothing is asked."""
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


def hub_unreachable(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the Hub endpoint (HF_ENDPOINT) cannot be reached, or None when a TCP connection opens within
    `timeout_s` (DNS included; huggingface_hub would otherwise retry for ~24 s before failing)."""
    from urllib.parse import urlsplit

    url = urlsplit(hub_endpoint())
    host = url.hostname or ""
    port = url.port or (80 if url.scheme == "http" else 443)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(err.strerror or type(err).__name__)

    worker = threading.Thread(target=probe, daemon=True)  # getaddrinfo ignores socket timeouts
    worker.start()
    worker.join(timeout_s + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout_s:g} s"


def unreachable_message(what: str, reason: str) -> str:
    """The one line of a Hub dataset (`what`) when the Hub cannot be reached: why, and the ways out."""
    return (
        f"{what}: the Hugging Face Hub at {hub_endpoint()} is unreachable "
        f"({reason}). Use a local copy (dataset.source: local with dataset.path, or dataset.custom.path), "
        "or set HF_HUB_OFFLINE=1 to read the copy in the Hugging Face cache if it was downloaded before"
    )


def check_reachable(what: str) -> None:
    """DatasetUnavailable at once, naming `what`, when the Hub is unreachable (nothing checked with
    HF_HUB_OFFLINE set: `datasets` reads its cache then)."""
    if hub_offline():
        return
    reason = hub_unreachable()
    if reason is not None:
        raise DatasetUnavailable(unreachable_message(what, reason))


def _load_hub_split(hub_id: str, config: str | None, split: str) -> Iterable[Mapping[str, Any]]:
    """Rows of one Hub split (the only function that touches the Hub; tests replace it)."""
    import datasets  # lazily: importing `datasets` is slow and not needed for local or gym data

    try:
        return datasets.load_dataset(hub_id, config, split=split)
    except RuntimeError as err:
        if "scripts are no longer supported" not in str(err):
            raise
    # A script-based repository: its automatic Parquet conversion lives on a separate revision.
    return datasets.load_dataset(hub_id, data_dir=config or "default", split=split, revision=PARQUET_REVISION)


def _rows(rows: Iterable[Mapping[str, Any]]) -> RowSource:
    for index, row in enumerate(rows):
        yield index, f"index {index}", row


def load_hub(cfg: DatasetConfig, split: str) -> LoadResult:
    """Load one split of a paper dataset from the Hub; any loading failure becomes a `DatasetError`."""
    source = HUB_SOURCES.get(cfg.name)
    if source is None:
        raise DatasetError(f"{cfg.name}: no Hub source (known: {', '.join(HUB_SOURCES)})")
    hub_id = cfg.hub_id or source.hub_id
    where = f"{cfg.name} split {split!r} (Hub {hub_id}" + (
        f", config {source.config})" if source.config else ")"
    )
    try:
        rows = _load_hub_split(hub_id, source.config, split)
    except DatasetError:  # DatasetUnavailable included: an unreachable Hub names the dataset already
        raise
    except Exception as err:  # network, unknown split, missing repository: all reported the same way
        if isinstance(err, ValueError) and "split" in str(err).lower():  # the Hub answered: no such split
            raise DatasetError(f"{where}: {one_line(err)}") from None
        raise DatasetUnavailable(
            f"{where}: cannot load from the Hugging Face Hub: {type(err).__name__}: {one_line(err)}. "
            "Offline? Use `source: local` with `path` pointing at the raw files."
        ) from err
    convert = functools.partial(_convert, CONVERTERS[cfg.name], split)
    return collect(_rows(rows), convert, where=where, limit=split_limit(cfg, split), check=input_check(cfg))


def _convert(converter: RowConverter, split: str, row: Any, index: int) -> Example:
    return converter(row, split, index)
