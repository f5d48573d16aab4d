"""Is a stored table (or model folder) still what the manifest says was written? Missing, truncated, edited.

The manifest records rows and sha256 of every table a round writes (`RoundStore.write`) and the files of
the student its fine-tune saved. A table the manifest records but whose file is gone or differs is
*damaged*: cached stages re-run the stage that wrote it (tasks/caching.py), readers stop with a
`StoreError` naming it, and summaries never count it as empty. A table never recorded is simply absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from fair_core.hashing import file_hash
from fair_core.store.location import folder_complete, folder_listing, parquet_rows


class RoundStore(Protocol):
    """What these checks need of `fair_core.store.parquet.RoundStore` (a Protocol: no import cycle)."""

    run_id: str
    round: int
    path: Any  # a Path, or a UPath on object storage

    def manifest(self) -> dict[str, Any]: ...


#: The manifest stage whose record names the trained student's folder and files.
FINE_TUNE = "fine-tune"


def rebuild_hint(store: RoundStore) -> str:
    """How to rebuild a round's lost table: rerun the run; its stages verify their tables on the way."""
    data_dir = store.path.parents[2]
    return (
        f"rerun the run (`fair resume {store.run_id} --data-dir {data_dir}`, or the same `fair run`): "
        "the stage that writes it runs again"
    )


def recorded_entries(store: RoundStore, name: str, part: str | None = None) -> dict[str, Mapping[str, Any]]:
    """The manifest's records of a table: one part, or the whole table (its single file and its parts)."""
    tables = store.manifest().get("tables", {})
    if part is not None:
        key = f"{name}/{part}"
        return {key: tables[key]} if key in tables else {}
    return {k: v for k, v in tables.items() if k == name or k.startswith(f"{name}/")}


def _file_problem(path: Any, entry: Mapping[str, Any], sha: str | None = None) -> str | None:
    """Why a recorded file is not what was written (None: it is)."""
    if not path.is_file():
        return f"its file {path} is missing"
    if (sha or file_hash(path)) == entry.get("sha256"):
        return None
    try:
        rows = parquet_rows(path)
    except Exception:  # any unreadable file is reported the same way
        return f"its file {path} is not a readable Parquet file (truncated or overwritten)"
    return (
        f"its file {path} has changed since it was written ({rows} rows, the manifest records "
        f"{entry.get('rows')} and another sha256)"
    )


def table_problem(store: RoundStore, name: str, part: str | None = None) -> str | None:
    """Why a recorded table (a part, or all files of a whole table) cannot be trusted; None when every
    recorded file is intact or the table was never recorded."""
    for key, entry in recorded_entries(store, name, part).items():
        path = store.path / str(entry.get("file") or f"{key}.parquet")
        problem = _file_problem(path, entry)
        if problem:
            return f"table {key} of run {store.run_id} round {store.round}: {problem}"
    return None


def is_recorded(store: RoundStore, name: str, part: str | None = None) -> bool:
    return bool(recorded_entries(store, name, part))


def folder_files(folder: Any) -> dict[str, int]:
    """Every file under a folder with its size in bytes (a cheap record of a model folder)."""
    return folder_listing(folder)


def model_problem(store: RoundStore, stage: str = FINE_TUNE) -> str | None:
    """Why the student a round trained (recorded by its fine-tune stage) is not on disk as saved: its
    folder or a file is missing or has another size. None when intact, untrained or never recorded."""
    record = store.manifest().get("stages", {}).get(stage)
    if not record or record.get("trained") is False:
        return None
    model = record.get("model") or {}
    outputs = record.get("outputs") or []
    relative = model.get("path") or (outputs[0] if outputs else None)
    if not relative:
        return None
    folder = store.path / str(relative)
    where = f"the student trained in run {store.run_id} round {store.round}"
    if not folder_complete(folder):
        return f"{where}: its folder {folder} is missing (or its upload never finished)"
    found = folder_files(folder)
    for file, size in (model.get("files") or {}).items():
        if found.get(file) != size:
            state = "is missing" if file not in found else f"has {found[file]} bytes, not {size}"
            return f"{where}: {folder / file} {state}"
    return None
