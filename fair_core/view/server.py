"""The viewer's local HTTP server (stdlib `http.server`): the page, its script, and a JSON API over a RunView.

GET /             the page            GET /api/meta            run, rounds, teachers, review settings
GET /view.js      the page's script   GET /api/page?...        one page of questions (filters: see Filters)
GET /view.css     its style           GET /api/question?id=ID  one question in full
"""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fair_core.store import StoreError
from fair_core.view.query import PER_PAGE, Filters, RunView, ViewError

ASSETS = {"/view.js": ("view.js", "text/javascript"), "/view.css": ("view.css", "text/css")}


def asset(name: str) -> str:
    """A file of fair_core/view/assets, as text."""
    return resources.files("fair_core.view").joinpath("assets", name).read_text(encoding="utf-8")


def page_html(mode: str) -> str:
    """The page, for `mode` 'server' (data from /api) or 'static' (data from data/*.js files)."""
    return asset("view.html").replace("__FAIR_MODE__", mode)


def _int(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name) or str(default)
    if not text.isdigit():
        raise ViewError(f"{name} {text!r}: give a whole number")
    return int(text)


def answer(view: RunView, path: str, params: dict[str, str]) -> Any:
    """The JSON of one API path (ViewError: a bad query; KeyError: no such path)."""
    if path == "/api/meta":
        return view.meta()
    if path == "/api/page":
        page, per_page = _int(params, "page", 1), _int(params, "per_page", PER_PAGE)
        return view.page(Filters.from_params(params), page, per_page)
    if path == "/api/question":
        if not params.get("id"):
            raise ViewError("question: give its id (?id=...)")
        return view.detail(params["id"])
    raise KeyError(path)


def make_handler(view: RunView) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: Any) -> None:
            self._send(status, json.dumps(data).encode("utf-8"), "application/json")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                return self._send(HTTPStatus.OK, page_html("server").encode("utf-8"), "text/html")
            if url.path in ASSETS:
                name, kind = ASSETS[url.path]
                return self._send(HTTPStatus.OK, asset(name).encode("utf-8"), kind)
            try:
                return self._json(HTTPStatus.OK, answer(view, url.path, dict(parse_qsl(url.query))))
            except ViewError as err:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            except KeyError:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such path {url.path}"})
            except StoreError as err:  # a table lost or damaged since the viewer started
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(err)})

    return Handler


def make_server(view: RunView, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to host:port (0: a free port; see `server.server_address`), not started yet."""
    server = ThreadingHTTPServer((host, port), make_handler(view))
    server.daemon_threads = True
    return server
