"""The viewer as a static folder that opens from file:// (no server): the page, and the data as script files
(`data/meta.js`, `data/index.js`, `data/search.js`, one `data/detail-NNNN.js` per page of questions), each
calling `FAIR_VIEW.load(name, data)`, since browsers block fetch() of file:// URLs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from fair_core.view.query import PER_PAGE, RunView
from fair_core.view.server import asset, page_html

#: Conventional share folder of a run, relative to its run folder (the run report links to it).
SHARE_DIR = "view"
_WORD = re.compile(r"\w{3,}")


def script(name: str, data: Any) -> str:
    """A data file: JSON passed to FAIR_VIEW.load; ASCII-escaped and with '<' as \\u003c, so no text of the
    run can close a script or start a tag even if the file is ever inlined into a page."""
    payload = json.dumps(data, ensure_ascii=True).replace("<", "\\u003c")
    return f"FAIR_VIEW.load({json.dumps(name)}, {payload});\n"


def search_words(view: RunView) -> list[str]:
    """Per question (index order): its id and question in lower case, then the distinct words (3+
    characters) of its rationales in every round: the compact search index of the static page."""
    words: dict[str, set[str]] = {}
    for k in view.rounds:
        table = view.tables.read(k, "rationales", ("example_id", "text"))
        if table is None:
            continue
        for ex_id, text in zip(*(c.to_pylist() for c in table.columns), strict=True):
            words.setdefault(ex_id, set()).update(_WORD.findall((text or "").lower()))
    out = []
    for row, text in zip(view.index(), view.search_texts, strict=True):
        out.append(text.replace("\n", " ") + "\n" + " ".join(sorted(words.get(row["id"], ()))))
    return out


def write_share(view: RunView, out: Path, per_chunk: int = PER_PAGE) -> Path:
    """Write the static viewer of `view` into `out` (replacing an earlier one there); returns index.html."""
    data = out / "data"
    if data.is_dir():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    index = view.index()
    meta = dict(view.meta(), per_chunk=per_chunk)
    (data / "meta.js").write_text(script("meta", meta), encoding="utf-8")
    (data / "index.js").write_text(script("index", index), encoding="utf-8")
    (data / "search.js").write_text(script("search", search_words(view)), encoding="utf-8")
    for start in range(0, len(index), per_chunk):
        chunk = {row["id"]: view.detail(row["id"]) for row in index[start : start + per_chunk]}
        name = f"detail-{start // per_chunk:04d}"
        (data / f"{name}.js").write_text(script(name, chunk), encoding="utf-8")
    for name in ("view.js", "view.css"):
        (out / name).write_text(asset(name), encoding="utf-8")
    page = out / "index.html"
    page.write_text(page_html("static"), encoding="utf-8")
    return page
