"""Where a run's files live: a local folder, or object storage (`s3://`, `gs://`, `az://`) through fsspec.

`as_path(data_dir)` gives a `pathlib.Path` for a local folder (or a shared filesystem mounted as one)
and a `upath.UPath` for a URL, so the store's path arithmetic (`/`, `glob`, `is_file`, `read_text`) is
written once. What differs is here:

- `write_bytes` / `write_parquet`: one object PUT on object storage (a PUT is visible whole or not at
  all), a temporary file and `os.replace` locally;
- `update_json`: a read-modify-write of a small JSON file that concurrent writers never lose: an flock
  locally, compare-and-swap on the object's ETag (`If-Match` / `If-None-Match: *`) on S3;
- model folders: `upload_folder` writes a completion marker last; `local_folder` downloads a folder
  whose marker is there into the scratch folder (`FAIR_SCRATCH_DIR`, default `~/.cache/fair`).

Credentials come from the provider's usual environment (`AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS`,
`AZURE_STORAGE_*`) and are never part of a path, a log line or an error here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

#: URL schemes that name object storage (fsspec protocols); anything else is a local path.
REMOTE_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
#: Written last into an uploaded folder: the folder is complete when (and only when) it is there.
FOLDER_MARKER = "_FAIR_COMPLETE.json"
#: How many times a compare-and-swap update is retried against concurrent writers.
CAS_ATTEMPTS = 50


class LocationError(RuntimeError):
    """A remote location cannot be used (no client installed, an incomplete folder, a lost update)."""


def is_remote(where: str | Path | Any) -> bool:
    """True for an object-storage URL (or a path object on one), False for a local path."""
    if isinstance(where, Path):
        return False
    scheme = urlsplit(str(where)).scheme.lower()
    return scheme in REMOTE_SCHEMES


def as_path(where: str | Path | Any) -> Any:
    """A local `Path` (user-expanded) or a `UPath` for an object-storage URL. Directory listings are not
    cached, so a worker sees what another machine wrote a moment ago."""
    if not is_remote(where):
        return where if isinstance(where, Path) else Path(str(where)).expanduser()
    if not isinstance(where, str):
        return where
    try:
        from upath import UPath
    except ImportError as err:  # pragma: no cover - the storage extra is missing
        raise LocationError(
            f"{where}: object storage needs the storage extra (pip install 'fair-distill[storage]')"
        ) from err
    return UPath(where.rstrip("/"), use_listings_cache=False)


def absolute(path: Any) -> Any:
    """A path made absolute for messages and links (object-storage paths already are)."""
    return path.expanduser().resolve() if isinstance(path, Path) else path


def scratch_dir(*parts: str) -> Path:
    """A local folder for what a worker only needs while it runs (downloaded models, training scratch),
    never under `run.data_dir`: `$FAIR_SCRATCH_DIR` or `~/.cache/fair`."""
    root = Path(os.environ.get("FAIR_SCRATCH_DIR") or Path.home() / ".cache" / "fair").expanduser()
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_bytes(path: Any, data: bytes) -> None:
    """Write a whole file so that readers see the old content or the new, never a part."""
    if is_remote(path):
        path.write_bytes(data)  # one PUT
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_parquet(table: pa.Table, path: Any) -> None:
    """A Parquet file (zstd), written whole (see `write_bytes`)."""
    if is_remote(path):
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        write_bytes(path, buffer.getvalue())
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def read_parquet(path: Any, schema: pa.Schema | None = None) -> pa.Table:
    if is_remote(path):
        with path.open("rb") as handle:
            return pq.read_table(pa.BufferReader(handle.read()), schema=schema)
    return pq.read_table(path, schema=schema)


def parquet_rows(path: Any) -> int:
    """The row count in a Parquet file's footer."""
    if is_remote(path):
        with path.open("rb") as handle:
            return pq.ParquetFile(pa.BufferReader(handle.read())).metadata.num_rows
    return pq.ParquetFile(path).metadata.num_rows


def read_json(path: Any) -> dict[str, Any]:
    """A JSON object file, or {} when it does not exist."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def update_json(path: Any, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply `change` to the JSON object stored at `path` (created as {} when absent) and store it; no
    concurrent update is lost. Returns the stored object."""
    if not is_remote(path):
        with _flocked(path.parent / f".{path.stem}.lock"):
            data = read_json(path)
            change(data)
            write_bytes(path, json.dumps(data, indent=2, sort_keys=True).encode())
            return data
    return _cas_update(path, change)


@contextlib.contextmanager
def _flocked(lock: Path) -> Iterator[None]:
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cas_update(path: Any, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read with the object's ETag, change, PUT only if the object is still that version (S3 `If-Match`,
    or `If-None-Match: *` for a new one); on a conflict read again. Object stores without conditional
    writes (other than S3) get a plain PUT: one writer per round there."""
    fs, key = path.fs, path.path
    conditional = urlsplit(str(path)).scheme.lower() in ("s3", "s3a")
    for attempt in range(CAS_ATTEMPTS):
        try:
            info = fs.info(key)
        except FileNotFoundError:
            info = None
        data = json.loads(fs.cat_file(key)) if info else {}
        change(data)
        body = json.dumps(data, indent=2, sort_keys=True).encode()
        if not conditional:
            fs.pipe_file(key, body)
            return data
        try:
            if info is None:
                fs.pipe_file(key, body, mode="create")
            else:
                fs.pipe_file(key, body, IfMatch=info["ETag"])
            return data
        except (FileExistsError, OSError) as err:
            if not _precondition_failed(err):
                raise
        time.sleep(min(0.5, 0.01 * 2**attempt) * random.uniform(0.5, 1.0))
    raise LocationError(f"{path}: {CAS_ATTEMPTS} concurrent updates in a row won over this one; try again")


def _precondition_failed(err: BaseException) -> bool:
    return isinstance(err, FileExistsError) or "pre-conditions" in str(err) or "Precondition" in str(err)


def folder_listing(folder: Any) -> dict[str, int]:
    """Every file under a folder with its size in bytes (the completion marker left out)."""
    files = {}
    for item in sorted(folder.rglob("*"), key=str):
        if item.is_file() and item.name != FOLDER_MARKER:
            files[str(item.relative_to(folder))] = item.stat().st_size
    return files


def upload_folder(local: Path, remote: Any) -> dict[str, int]:
    """Copy a local folder to object storage: first the old marker goes, then every file, then a new
    marker listing them, so a reader never takes a half-uploaded folder for a whole one."""
    marker = remote / FOLDER_MARKER
    if marker.exists():
        marker.unlink()
    files = folder_listing(local)
    for name in files:
        write_bytes(remote / name, (local / name).read_bytes())
    write_bytes(marker, json.dumps({"files": files}, indent=1, sort_keys=True).encode())
    return files


def folder_complete(folder: Any) -> bool:
    """A remote folder is complete when its marker is there; a local folder when it exists."""
    return (folder / FOLDER_MARKER).is_file() if is_remote(folder) else folder.is_dir()


def local_folder(where: str | Path | Any) -> Path:
    """A local copy of a model folder: the folder itself when local; for object storage, a download into
    the scratch folder (reused while the marker's listing is unchanged)."""
    folder = as_path(where)
    if not is_remote(folder):
        return folder
    marker = folder / FOLDER_MARKER
    if not marker.is_file():
        raise LocationError(f"{folder}: not a complete folder (no {FOLDER_MARKER}: not uploaded, or cut off)")
    listing = marker.read_text(encoding="utf-8")
    digest = hashlib.sha256(f"{folder}\n{listing}".encode()).hexdigest()[:24]
    target = scratch_dir("folders") / digest
    if (target / FOLDER_MARKER).is_file():
        return target
    tmp = target.with_name(f".{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    for name in json.loads(listing)["files"]:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes((folder / name).read_bytes())
    (tmp / FOLDER_MARKER).write_text(listing, encoding="utf-8")
    try:
        os.replace(tmp, target)
    except OSError:  # another process downloaded it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def remove_tree(folder: Any) -> bool:
    """Remove a folder (local or remote); True when something was there."""
    if is_remote(folder):
        if not folder.exists():
            return False
        folder.fs.rm(folder.path, recursive=True)
        return True
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True
