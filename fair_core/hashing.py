"""Content hashes: canonical JSON of any value, files and folders (sha256 hex)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def stable_hash(value: Any) -> str:
    """sha256 of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def file_hash(path: str | Path | Any) -> str:
    """sha256 of a file's bytes, or of every file under a folder (names and bytes, sorted). A local path,
    or a path object on object storage (`fair_core.store.location.as_path`)."""
    from fair_core.store.location import as_path  # here: the store imports this module

    path = as_path(path)
    digest = hashlib.sha256()
    is_dir = path.is_dir()
    files = [path]
    if is_dir:
        files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).parts)
    for file in files:
        if is_dir:
            digest.update(str(file.relative_to(path)).encode("utf-8") + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
