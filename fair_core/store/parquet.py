"""Parquet store of a run: `<data_dir>/runs/<run_id>/round=<k>/<table>.parquet`, atomic writes, a manifest."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

import fair_core
from fair_core.hashing import file_hash
from fair_core.store.integrity import is_recorded, rebuild_hint, table_problem
from fair_core.store.location import as_path, read_json, read_parquet, update_json, write_bytes, write_parquet
from fair_core.store.schemas import TABLES

MANIFEST = "manifest.json"


class StoreError(RuntimeError):
    """A table is missing, unknown or does not match its declared schema."""


@dataclass(frozen=True)
class TableInfo:
    name: str
    path: Any  # a Path, or a UPath on object storage
    rows: int
    sha256: str


def code_version() -> str:
    """Package version plus the git commit of the checkout when there is one."""
    root = Path(fair_core.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{fair_core.__version__}+{sha}" if sha else fair_core.__version__


def atomic_write_bytes(path: Any, data: bytes) -> None:
    """A whole file, visible whole or not at all (a local path or object storage)."""
    write_bytes(as_path(path), data)


def to_table(rows: Sequence[Mapping[str, Any]] | pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    """Rows (dicts) or a table, checked against the declared schema (missing nullable columns -> null)."""
    if isinstance(rows, pa.Table):
        missing = [f.name for f in schema if f.name not in rows.column_names]
        if missing:
            raise StoreError(f"table {name}: missing columns {missing}")
        return rows.select(schema.names).cast(schema)
    try:
        return pa.Table.from_pylist([dict(r) for r in rows], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise StoreError(f"table {name}: rows do not match the declared schema: {err}") from None


class RoundStore:
    """The tables of one round of one run (`root`: a local Path or a UPath on object storage)."""

    def __init__(self, root: Any, run_id: str, round_index: int) -> None:
        self.run_id = run_id
        self.round = round_index
        self.path = root / f"round={round_index}"

    # --- tables ---------------------------------------------------------------------------------

    def table_path(self, name: str, part: str | None = None) -> Any:
        if name not in TABLES:
            raise StoreError(f"unknown table {name!r}; known: {sorted(TABLES)}")
        if part is None:
            return self.path / f"{name}.parquet"
        return self.path / name / f"{part}.parquet"

    def write(
        self, name: str, rows: Sequence[Mapping[str, Any]] | pa.Table, part: str | None = None
    ) -> TableInfo:
        """Write a table (or one part of a partitioned table) atomically; record it in the manifest."""
        path = self.table_path(name, part)
        table = to_table(rows, TABLES[name], name)
        write_parquet(table, path)
        info = TableInfo(name if part is None else f"{name}/{part}", path, table.num_rows, file_hash(path))
        self._record_table(info)
        return info

    def exists(self, name: str, part: str | None = None) -> bool:
        if part is None and (self.path / name).is_dir():
            return any((self.path / name).glob("*.parquet"))
        return self.table_path(name, part).is_file()

    def read(self, name: str, part: str | None = None) -> pa.Table:
        """A whole table (a partitioned one: its parts concatenated in name order), or one part."""
        schema = TABLES.get(name)
        if schema is None:
            raise StoreError(f"unknown table {name!r}; known: {sorted(TABLES)}")
        if part is not None:
            path = self.table_path(name, part)
            if not path.is_file():
                raise StoreError(self._missing(f"{name}/{part}", path))
            return self._read_file(f"{name}/{part}", path, schema)
        single = self.table_path(name)
        if single.is_file():
            return self._read_file(name, single, schema)
        parts = sorted((self.path / name).glob("*.parquet"), key=str) if (self.path / name).is_dir() else []
        if not parts:
            raise StoreError(self._missing(name, self.path))
        return pa.concat_tables([self._read_file(f"{name}/{p.stem}", p, schema) for p in parts])

    def _missing(self, name: str, where: Any) -> str:
        what = f"table {name} of run {self.run_id} round {self.round}"
        if is_recorded(self, *name.split("/", 1)):
            return f"{what} is missing (the manifest records it; {where} is gone); {rebuild_hint(self)}"
        return f"{what} not found under {where}"

    def _read_file(self, name: str, path: Any, schema: pa.Schema) -> pa.Table:
        try:
            return read_parquet(path, schema)
        except (pa.ArrowException, OSError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise StoreError(
                f"table {name} of run {self.run_id} round {self.round}: {path} is not a readable "
                f"Parquet file with the declared schema ({reason}); {rebuild_hint(self)}"
            ) from None

    def rows(self, name: str, part: str | None = None) -> list[dict[str, Any]]:
        return self.read(name, part).to_pylist()

    def rows_if_present(self, name: str) -> list[dict[str, Any]]:
        """A table's rows, or [] when it was never written (a round still running, a stage switched off).
        A table the manifest records but whose file is missing or changed raises StoreError naming it:
        a lost table is never counted as empty."""
        problem = table_problem(self, name)
        if problem:
            raise StoreError(f"{problem}; {rebuild_hint(self)}")
        return self.rows(name) if self.exists(name) else []

    def content_hash(self, name: str, part: str | None = None) -> str:
        """Hash of a table's files (a partitioned table: all its parts)."""
        if not self.exists(name, part):
            label = name if part is None else f"{name}/{part}"
            raise StoreError(self._missing(label, self.table_path(name, part)))
        if part is not None:
            return file_hash(self.table_path(name, part))
        single = self.table_path(name)
        return file_hash(single if single.is_file() else self.path / name)

    def verified_hash(self, name: str, part: str | None = None) -> str:
        """`content_hash`, after checking the table against the manifest: StoreError naming it when a
        recorded file is missing or differs from what was written (a table never recorded is taken as is)."""
        sha = self.content_hash(name, part)
        problem = table_problem(self, name, part)
        if problem:
            raise StoreError(f"{problem}; {rebuild_hint(self)}")
        return sha

    # --- manifest -------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return read_json(self.path / MANIFEST)

    def _update(self, change: Any) -> dict[str, Any]:
        """One manifest change; concurrent writers (shards on other workers) never lose one another's."""
        version = code_version()

        def apply(data: dict[str, Any]) -> None:
            if not data:
                data.update({"run_id": self.run_id, "round": self.round, "tables": {}, "stages": {}})
            change(data)
            data["code_version"] = version
            data["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")

        return update_json(self.path / MANIFEST, apply)

    def _record_table(self, info: TableInfo) -> None:
        def change(data: dict[str, Any]) -> None:
            data["tables"][info.name] = {
                "rows": info.rows,
                "sha256": info.sha256,
                "file": str(info.path.relative_to(self.path)),
            }

        self._update(change)

    def record_stage(
        self,
        stage: str,
        *,
        inputs: Mapping[str, str],
        outputs: Sequence[str],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Lineage: which input content hashes a stage read and which tables it wrote."""

        def change(data: dict[str, Any]) -> None:
            data["stages"][stage] = {
                "inputs": dict(inputs),
                "outputs": list(outputs),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **dict(extra or {}),
            }

        self._update(change)

    def set_meta(self, **values: Any) -> None:
        """Top-level manifest fields, e.g. config_hash, student model, prompt fingerprint."""
        self._update(lambda data: data.update(values))

    def count_start(self, stage: str) -> int:
        """Count one more start of `stage` (e.g. training really ran, not from cache); returns the count."""

        def change(data: dict[str, Any]) -> None:
            data.setdefault("starts", {})[stage] = data.get("starts", {}).get(stage, 0) + 1

        return int(self._update(change)["starts"][stage])


class RunStore:
    """All rounds of one run under `<data_dir>/runs/<run_id>`."""

    def __init__(self, data_dir: str | Path, run_id: str) -> None:
        self.run_id = run_id
        self.root = as_path(data_dir) / "runs" / run_id

    def round(self, index: int) -> RoundStore:
        return RoundStore(self.root, self.run_id, index)

    @property
    def config_path(self) -> Any:
        return self.root / "config.json"

    def save_config(self, config: dict[str, Any]) -> None:
        """The run's config (JSON, no secrets: keys are named, never stored), for `fair resume` and events."""
        atomic_write_bytes(self.config_path, json.dumps(config, indent=1, sort_keys=True).encode())

    def rounds(self) -> list[int]:
        found = [p.name.split("=", 1)[1] for p in self.root.glob("round=*") if p.is_dir()]
        return sorted(int(x) for x in found if x.isdigit())
