"""The Parquet store: declared schemas, atomic table writes, round manifests, reference-code import."""

from fair_core.store.parquet import RoundStore, RunStore, StoreError, TableInfo, code_version

__all__ = ["RoundStore", "RunStore", "StoreError", "TableInfo", "code_version"]
