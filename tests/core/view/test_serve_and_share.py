"""The viewer's HTTP API (a real server on 127.0.0.1, in a thread), its static share folder, and `fair view`'s
one-line errors."""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fair_core.view import Filters, RunView
from fair_core.view.server import make_server
from fair_core.view.static import write_share
from flows.cli import app
from tests.core.view.run_builder import EVIL, build_run


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("view-serve")
    build_run(data, "r", n_train=30, n_test=10)
    return data


@pytest.fixture(scope="module")
def base_url(data_dir: Path) -> Iterator[str]:
    server = make_server(RunView(data_dir, "r"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_api_pages_filters_and_detail(base_url: str, data_dir: Path) -> None:
    view = RunView(data_dir, "r")
    status, body = _get(f"{base_url}/api/page?accepted=1&teacher=gpt&per_page=5&page=1")
    page = json.loads(body)
    expected = view.matching(Filters(accepted=True, teacher="gpt"))
    assert status == 200 and page["total"] == len(expected) and page["rows"] == expected[:5]
    meta = json.loads(_get(f"{base_url}/api/meta")[1])
    assert meta["rounds"] == [0, 1] and meta["teachers"] == ["gpt", "gemini", "mixtral"]
    first = expected[0]["id"]
    status, body = _get(f"{base_url}/api/question?id={first}")
    assert status == 200 and json.loads(body) == json.loads(json.dumps(view.detail(first)))
    assert _get(f"{base_url}/api/question?id=nope") == (
        400,
        json.dumps({"error": "question 'nope' is not in run r"}),
    )
    assert _get(f"{base_url}/api/page?round=x")[0] == 400
    assert _get(f"{base_url}/api/else")[0] == 404


def test_page_and_script_are_served_offline(base_url: str) -> None:
    status, html = _get(f"{base_url}/")
    assert status == 200 and 'data-mode="server"' in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no CDN: everything comes from this server
    status, js = _get(f"{base_url}/view.js")
    assert status == 200 and "innerHTML" not in js  # text goes in as text nodes only


def test_share_folder_has_chunks_and_a_search_index(data_dir: Path, tmp_path: Path) -> None:
    view = RunView(data_dir, "r")
    page = write_share(view, tmp_path / "share", per_chunk=15)
    data = tmp_path / "share" / "data"
    assert page.read_text().count('data-mode="static"') == 1
    assert sorted(p.name for p in data.iterdir()) == [
        "detail-0000.js",
        "detail-0001.js",
        "detail-0002.js",
        "index.js",
        "meta.js",
        "search.js",
    ]
    loaded = {}
    for path in data.iterdir():
        name, payload = re.fullmatch(
            r'FAIR_VIEW\.load\("([\w-]+)", (.*)\);\n', path.read_text(), re.S
        ).groups()
        loaded[name] = json.loads(payload)
    assert loaded["index"] == view.index() and loaded["meta"]["per_chunk"] == 15
    assert loaded["detail-0002"] == json.loads(
        json.dumps({r["id"]: view.detail(r["id"]) for r in view.index()[30:]})
    )
    assert (
        EVIL not in (data / "detail-0000.js").read_text()
        and "<img" not in (data / "detail-0000.js").read_text()
    )
    assert "onerror" in (data / "search.js").read_text()  # and the rationale's words are searchable
    assert len(loaded["search"]) == 40


def test_cli_errors_are_one_line(data_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["view", "gone", "--data-dir", str(data_dir), "--no-open"])
    assert (
        result.exit_code == 2 and "run 'gone' not found" in result.output and "Traceback" not in result.output
    )
    result = runner.invoke(app, ["view", "r", "--data-dir", str(data_dir), "--share", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--out DIR or --share" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app, ["view", "r", "--data-dir", str(data_dir), "--no-open", "--port", str(port)]
        )
    assert result.exit_code == 2 and f"--port {port}: already in use" in " ".join(result.output.split())
    result = runner.invoke(
        app, ["view", "r", "--data-dir", str(data_dir), "--out", str(tmp_path / "s"), "--no-open"]
    )
    assert result.exit_code == 0 and result.output.strip() == str(tmp_path / "s" / "index.html")


def test_a_damaged_table_is_one_line(tmp_path: Path) -> None:
    run = build_run(tmp_path, "bad", n_train=4, n_test=2)
    (run.round(0).path / "acceptance.parquet").write_bytes(b"not parquet")
    result = CliRunner().invoke(app, ["view", "bad", "--data-dir", str(tmp_path), "--no-open"])
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "table acceptance of run bad round 0" in message, result.output
    assert "Traceback" not in result.output
