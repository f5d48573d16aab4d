"""HTML building blocks of the run report: the page's CSS, escaped tables, embedded images, notes, the
per-round summary table and the cost tables."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fair_core.report.plots import data_uri
from fair_core.report.summary import display_summary, label

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; padding: 0 1em; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child, th.text, td.text { text-align: left; }
thead th { background: #f3f3f3; } tbody tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; border: 1px solid #eee; } figure { margin: 1em 0; }
figcaption, .path { color: #666; font-size: .85em; font-family: ui-monospace, monospace; }
.note { color: #8a5a00; background: #fff8e6; border-left: 3px solid #e0a800; padding: .4em .8em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dt { font-weight: 600; }
details { margin: .8em 0; } summary { cursor: pointer; color: #345; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
.viewer { background: #eef5ff; border-left: 3px solid #3b7ddd; padding: .4em .8em; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_usd"):
        return f"${float(value):.4f}"
    if isinstance(value, float):
        return f"{value:.1%}" if "accuracy" in key or key.startswith("acceptance") else f"{value:.4g}"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], text: Sequence[str] = ()) -> str:
    """An HTML table of dict rows (the columns of all rows, first seen first); `text` columns align left."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    attr = {c: ' class="text"' if c in text else "" for c in columns}
    head = "".join(f"<th{attr[c]}>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{attr[c]}>{esc(fmt(r.get(c), c))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image(png: bytes, alt: str, path: Path | None = None) -> str:
    caption = f"<figcaption>{esc(path)}</figcaption>" if path is not None else ""
    return f'<figure><img alt="{esc(alt)}" src="{data_uri(png)}">{caption}</figure>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def summary_table(summaries: Sequence[Mapping[str, Any]], raw: bool = False) -> str:
    """One row per number, one column per round (many numbers, few rounds); accuracies with n and 95% CI.
    Rows are labelled for people (`summary.label`), or by their summary keys (`raw`)."""
    summaries = [display_summary(s) for s in summaries]
    keys = list(dict.fromkeys(k for s in summaries for k in s if k != "round"))
    head = "".join(f"<th>round {esc(s['round'])}</th>" for s in summaries)
    body = "".join(
        f"<tr><td>{esc(k if raw else label(k))}</td>"
        + "".join(f"<td>{esc(fmt(s.get(k), k))}</td>" for s in summaries)
        + "</tr>"
        for k in keys
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Column headers of the cost tables (their rows keep the summary's keys).
COST_HEADERS = {
    "requests_sent": "sent",
    "from_cache": "from cache",
    "failed_calls": "failed",
    "replayed_calls": "replayed",
    "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens",
    "cost_feedback_usd": "paid: feedback",
    "cost_rationale_usd": "paid: rationale",
    "cost_review_usd": "paid: review",
    "cost_usd": "paid",
    "billed_usd": "billed",
}


def cost_table(rows: Sequence[Mapping[str, Any]]) -> str:
    shown = [{COST_HEADERS.get(k, k): fmt(v, k) for k, v in r.items()} for r in rows]
    return table(shown, ("teacher", "provider", "model", "role"))
