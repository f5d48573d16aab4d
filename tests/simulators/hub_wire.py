"""A local stand-in for the part of the Hugging Face Hub API that `HfApi.create_repo` and `upload_folder`
call (huggingface_hub 1.x/2.x), on 127.0.0.1, recording every repository, commit and file it receives:

- POST /api/repos/create                                   (409 when the repo exists: exist_ok handles it)
- GET  /api/{type}s/{owner}/{name}[/revision/{rev}]        (repo_info)
- POST /api/validate-yaml                                  (the README's front matter must parse)
- POST /api/{type}s/{owner}/{name}/preupload/{rev}         (upload mode per file: lfs or regular)
- POST /{prefix}{owner}/{name}.git/info/lfs/objects/batch  (LFS batch API, "basic" transfer)
- PUT  /lfs/{oid}  then POST /lfs/{oid}/verify             (the LFS object's bytes, checked against oid)
- POST /api/{type}s/{owner}/{name}/commit/{rev}            (NDJSON: header, file (base64), lfsFile, deleted*)

Files matching `lfs_suffixes` (or of `lfs_min_size` bytes and more) are answered "lfs". huggingface_hub
uploads LFS files through Xet when `hf_xet` is installed; Xet storage is not emulated, so a test of the LFS
path runs its client with HF_HUB_DISABLE_XET=1 (the classic LFS batch path), and a test with Xet enabled
uses `lfs_suffixes=()` (every file inline in the commit). Every request needs `Authorization: Bearer
<token>` (401 otherwise)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".parquet", ".bin", ".png")
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)
    commits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HubWire:
    """The server's state; `url` once started. `requests`: (method, path) of every call received."""

    token: str
    lfs_suffixes: tuple[str, ...] = LFS_SUFFIXES
    lfs_min_size: int = 10 * 1024 * 1024
    repos: dict[tuple[str, str], Repo] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        return self.repos[(repo_type, repo_id)]

    def is_lfs(self, path: str, size: int) -> bool:
        return path.endswith(self.lfs_suffixes) or size >= self.lfs_min_size


class _Handler(BaseHTTPRequestHandler):
    wire: HubWire

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing -------------------------------------------------------------------------------

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():  # a streamed file body
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()  # the blank line after the last chunk
            return data
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
        self._send(status, {"error": message}, headers)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.wire.token}":
            return True
        self._error(401, "Invalid credentials in Authorization header")
        return False

    def _route(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.wire.lock:
            self.wire.requests.append((method, path))
        if not path.startswith("/lfs/") and not self._authorized():
            return
        parts = [p for p in path.split("/") if p]
        handler = self._dispatch(method, parts)
        if handler is None:
            with self.wire.lock:
                self.wire.unknown.append((method, path))
            self._error(404, f"no route {method} {path}")
            return
        handler()

    def _dispatch(self, method: str, parts: list[str]) -> Any:
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self._create
        if method == "POST" and parts == ["api", "validate-yaml"]:
            return self._validate_yaml
        if parts[:1] == ["lfs"] and len(parts) >= 2:
            oid = parts[1]
            if method == "PUT" and len(parts) == 2:
                return lambda: self._lfs_put(oid)
            if method == "POST" and parts[2:] == ["verify"]:
                return lambda: self._lfs_verify(oid)
        if method == "POST" and len(parts) >= 4 and parts[-4:-1] == ["info", "lfs", "objects"]:
            return lambda: self._lfs_batch(parts)
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in _TYPES:
            kind, repo_id, rest = _TYPES[parts[1]], f"{parts[2]}/{parts[3]}", parts[4:]
            if method == "GET" and (not rest or rest[0] == "revision"):
                return lambda: self._info(kind, repo_id)
            if method == "POST" and rest[:1] == ["preupload"]:
                return lambda: self._preupload(kind, repo_id)
            if method == "POST" and rest[:1] == ["commit"]:
                return lambda: self._commit(kind, repo_id)
        return None

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    # --- the API --------------------------------------------------------------------------------

    def _known(self, kind: str, repo_id: str) -> Repo | None:
        repo = self.wire.repos.get((kind, repo_id))
        if repo is None:
            self._error(404, f"Repository not found: {kind} {repo_id}", "RepoNotFound")
        return repo

    def _create(self) -> None:
        body = json.loads(self._body() or b"{}")
        kind = body.get("type") or "model"
        repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
        prefix = "" if kind == "model" else f"{kind}s/"
        url = f"{self.wire.url}/{prefix}{repo_id}"
        with self.wire.lock:
            if (kind, repo_id) in self.wire.repos:
                self._error(409, "You already created this repo", None)
                return
            private = body.get("private") or body.get("visibility") == "private"
            self.wire.repos[(kind, repo_id)] = Repo(repo_id, kind, bool(private))
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _info(self, kind: str, repo_id: str) -> None:
        repo = self._known(kind, repo_id)
        if repo is not None:
            sha = repo.commits[-1]["oid"] if repo.commits else "0" * 40
            siblings = [{"rfilename": p} for p in sorted(repo.files)]
            self._send(200, {"id": repo_id, "sha": sha, "private": repo.private, "siblings": siblings})

    def _validate_yaml(self) -> None:
        content = json.loads(self._body()).get("content", "")
        errors = []
        if content.startswith("---\n"):
            block = content[4:].split("\n---\n", 1)[0]
            try:
                if not isinstance(yaml.safe_load(block), dict):
                    errors.append({"message": "metadata is not a mapping"})
            except yaml.YAMLError as err:
                errors.append({"message": f"invalid YAML: {err}"})
        self._send(400 if errors else 200, {"errors": errors, "warnings": []})

    def _preupload(self, kind: str, repo_id: str) -> None:
        if self._known(kind, repo_id) is None:
            return
        files = json.loads(self._body())["files"]
        modes = [
            {
                "path": f["path"],
                "uploadMode": "lfs" if self.wire.is_lfs(f["path"], int(f["size"])) else "regular",
                "shouldIgnore": False,
                "oid": None,
            }
            for f in files
        ]
        self._send(200, {"files": modes, "commitOid": "0" * 40})

    def _lfs_batch(self, parts: list[str]) -> None:
        body = json.loads(self._body())
        objects = []
        for obj in body["objects"]:
            oid, size = obj["oid"], obj["size"]
            entry: dict[str, Any] = {"oid": oid, "size": size}
            if oid not in self.wire.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self.wire.url}/lfs/{oid}"},
                    "verify": {"href": f"{self.wire.url}/lfs/{oid}/verify"},
                }
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects})

    def _lfs_put(self, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            self._error(400, "sha256 of the uploaded bytes does not match the oid")
            return
        with self.wire.lock:
            self.wire.lfs_objects[oid] = data
        self._send(200, {})

    def _lfs_verify(self, oid: str) -> None:
        body = json.loads(self._body())
        data = self.wire.lfs_objects.get(oid)
        if data is None or len(data) != int(body["size"]):
            self._error(404, f"LFS object {oid} not uploaded")
            return
        self._send(200, {})

    def _commit(self, kind: str, repo_id: str) -> None:
        repo = self._known(kind, repo_id)
        if repo is None:
            return
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        added: dict[str, bytes] = {}
        lfs: set[str] = set()
        deleted: list[str] = []
        for item in lines:
            value = item["value"]
            if item["key"] == "file":
                added[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                data = self.wire.lfs_objects.get(value["oid"])
                if data is None:
                    self._error(422, f"LFS object of {value['path']} was never uploaded")
                    return
                added[value["path"]] = data
                lfs.add(value["path"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
        oid = hashlib.sha1(json.dumps(sorted(added)).encode() + str(len(repo.commits)).encode()).hexdigest()
        with self.wire.lock:
            for path in deleted:
                repo.files = {
                    p: d for p, d in repo.files.items() if p != path and not p.startswith(path + "/")
                }
            repo.files.update(added)
            repo.lfs_paths |= lfs
            repo.commits.append({"oid": oid, "summary": header.get("summary"), "files": sorted(added)})
        prefix = "" if kind == "model" else f"{kind}s/"
        url = f"{self.wire.url}/{prefix}{repo_id}/commit/{oid}"
        self._send(200, {"commitUrl": url, "commitOid": oid, "success": True, "pullRequestUrl": None})


class HubServer:
    """`with HubServer(token) as wire:` serves a fresh `HubWire` on 127.0.0.1 (any free port)."""

    def __init__(self, token: str, **options: Any) -> None:
        self.wire = HubWire(token, **options)
        handler = type("Handler", (_Handler,), {"wire": self.wire})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.wire.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubWire:
        self.thread.start()
        return self.wire

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
