"""Column-selected, cached reads of a run's Parquet tables, and one example's rows of a table."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fair_core.store import RunStore, StoreError
from fair_core.store.schemas import TABLES


class ViewError(ValueError):
    """A run that cannot be viewed, or a query that is not valid (one line, names what is wrong)."""


class RunTables:
    """Reads only the columns asked for, once per process: (round, table, columns) -> pyarrow table."""

    def __init__(self, run: RunStore) -> None:
        self.run = run
        self._tables: dict[tuple[int, str, tuple[str, ...]], pa.Table | None] = {}
        self._lock = threading.RLock()

    def files(self, round_index: int, name: str) -> list[Path]:
        """The table's Parquet file, or its parts in name order ([] when it was never written)."""
        folder = self.run.round(round_index).path
        single = folder / f"{name}.parquet"
        if single.is_file():
            return [single]
        return sorted((folder / name).glob("*.parquet")) if (folder / name).is_dir() else []

    def exists(self, round_index: int, name: str) -> bool:
        return bool(self.files(round_index, name))

    def read(self, round_index: int, name: str, columns: tuple[str, ...]) -> pa.Table | None:
        """The table's `columns` (None when the table is absent), read once and kept."""
        key = (round_index, name, columns)
        with self._lock:
            if key not in self._tables:
                paths = self.files(round_index, name)
                schema = TABLES[name]
                wanted = pa.schema([schema.field(c) for c in columns])
                parts = [self._read_file(round_index, name, p, columns, schema, wanted) for p in paths]
                self._tables[key] = pa.concat_tables(parts) if parts else None
            return self._tables[key]

    def column(self, round_index: int, name: str, column: str) -> list[Any]:
        table = self.read(round_index, name, (column,))
        return [] if table is None else table.column(0).to_pylist()

    def _read_file(
        self, k: int, name: str, path: Path, columns: tuple[str, ...], schema: pa.Schema, wanted: pa.Schema
    ) -> pa.Table:
        try:
            return pq.read_table(path, columns=list(columns), schema=schema).cast(wanted)
        except (pa.ArrowException, OSError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise StoreError(
                f"table {name} of run {self.run.run_id} round {k}: {path} is not a readable Parquet file "
                f"with the declared schema ({reason})"
            ) from None

    def rows_for(
        self, round_index: int, name: str, example_id: str, columns: tuple[str, ...], key: str = "example_id"
    ) -> list[dict[str, Any]]:
        """The rows of one example (only `columns`, which include `key`), in table order: a vectorized
        comparison over the cached id column, no scan in Python."""
        table = self.read(round_index, name, columns)
        if table is None:
            return []
        return table.filter(pc.equal(table.column(key), pa.scalar(example_id, pa.string()))).to_pylist()
