"""`fair report`: one self-contained HTML page of a run (inline CSS, plots embedded as PNG data URIs)."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from fair_core.committee_stats import committee_stats
from fair_core.evaluation import run_accuracy_rows
from fair_core.report.committee import committee_html
from fair_core.report.markdown import interval_cell
from fair_core.report.plots import (
    REVIEW_PLOT,
    data_uri,
    loss_plot,
    plot_accuracy,
    plot_review_scores,
    review_score_counts,
    train_record,
)
from fair_core.report.summary import RATES, acceptance_rows, cost_rows, display_summary, round_summary
from fair_core.store.parquet import RoundStore, RunStore, atomic_write_bytes

REPORT_FILE = "report.html"

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
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, key: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_usd"):
        return f"${float(value):.4f}"
    if isinstance(value, float):
        return f"{value:.1%}" if "accuracy" in key or key.startswith("acceptance") else f"{value:.4g}"
    return str(value)


def _table(rows: Sequence[Mapping[str, Any]], text: Sequence[str] = ()) -> str:
    """An HTML table of dict rows (the columns of all rows, first seen first); `text` columns align left."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    attr = {c: ' class="text"' if c in text else "" for c in columns}
    head = "".join(f"<th{attr[c]}>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{attr[c]}>{_e(_fmt(r.get(c), c))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(png: bytes, alt: str, path: Path | None = None) -> str:
    caption = f"<figcaption>{_e(path)}</figcaption>" if path is not None else ""
    return f'<figure><img alt="{_e(alt)}" src="{data_uri(png)}">{caption}</figure>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _teachers(manifests: Sequence[Mapping[str, Any]]) -> list[str]:
    """The committee named by the latest round's config in its manifest (empty for an imported run)."""
    for manifest in reversed(manifests):
        teachers = (manifest.get("config") or {}).get("teachers") or []
        if teachers:
            return [str(t.get("name")) for t in teachers if isinstance(t, Mapping)]
    return []


def _summary(store: RoundStore, saved: Mapping[str, Any] | None, teachers: Sequence[str]) -> dict[str, Any]:
    """The round's numbers recomputed from its tables (a running round has no saved summary yet), with what
    only the saved summary knows (dataset, the accuracy before a later round) filled in from it."""
    live = round_summary(store, teachers)
    saved = dict(saved or {})
    merged = {k: saved.get(k) if v is None else v for k, v in live.items()}
    merged |= {k: v for k, v in saved.items() if k not in merged and not k.endswith("_plot")}
    return {"state": "finished" if saved else "in progress", **merged}


def _summary_table(summaries: Sequence[Mapping[str, Any]]) -> str:
    """One row per number, one column per round (many numbers, few rounds); accuracies with n and 95% CI."""
    summaries = [display_summary(s) for s in summaries]
    keys = list(dict.fromkeys(k for s in summaries for k in s if k != "round"))
    head = "".join(f"<th>round {_e(s['round'])}</th>" for s in summaries)
    body = "".join(
        f"<tr><td>{_e(k)}</td>" + "".join(f"<td>{_e(_fmt(s.get(k), k))}</td>" for s in summaries) + "</tr>"
        for k in keys
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _round_section(store: RoundStore, teachers: Sequence[str], summary: Mapping[str, Any]) -> str:
    """Review-score histogram per teacher and the loss curve of one round, or notes saying what is missing."""
    parts = [f'<h2 id="round-{store.round}">Round {store.round}</h2>']
    if summary.get("state") != "finished":
        parts.append(
            _note("This round has not finished: the numbers are those of the tables written so far.")
        )
    parts.append("<h3>Peer-review scores received per teacher</h3>")
    reviews = store.rows_if_present("reviews")
    if reviews:
        counts = review_score_counts(reviews, teachers)
        title = f"Peer-review scores received, round {store.round}"
        saved = store.path / REVIEW_PLOT
        parts.append(_image(plot_review_scores(counts, title), title, saved if saved.is_file() else None))
        parts.append(_table([{"author": a, **c} for a, c in counts.items()], text=("author",)))
    else:
        parts.append(
            _note("No peer reviews in this round (no mistakes, review disabled, or not reached yet).")
        )
    if reviews or store.exists("rationales"):
        parts.append(committee_html(committee_stats(store)))  # acceptance, agreement, cost per teacher
    parts.append("<h3>Training loss</h3>")
    drawn = loss_plot(store)
    if drawn is None:
        parts.append(
            _note("No trained model in this round yet (training not reached, running, or no samples).")
        )
    else:
        png, path = drawn
        parts.append(_image(png, f"training loss, round {store.round}", path))
        record = train_record(store) or {}
        evals = record.get("eval_losses") or []
        numbers = {
            "method": record.get("method"),
            "steps": record.get("steps"),
            "samples": record.get("num_samples"),
            "final_train_loss": record.get("final_train_loss"),
            "validation_loss_before": evals[0][1] if evals and evals[0][0] == 0 else None,
            "validation_loss_after": evals[-1][1] if evals else None,
            "train_seconds": record.get("train_seconds"),
        }
        parts.append(_table([numbers], text=("method",)))
    return "\n".join(parts)


def render_run_report(data_dir: str | Path, run_id: str) -> str:
    """The whole report of run `run_id` under `<data_dir>/runs/` as one HTML string (no external files).

    Raises FileNotFoundError naming the folder when the run does not exist.
    """
    run = RunStore(data_dir, run_id)
    if not run.root.is_dir():
        raise FileNotFoundError(f"run {run_id!r} not found: {run.root} does not exist")
    stores = [run.round(k) for k in run.rounds()]
    manifests = [s.manifest() for s in stores]
    teachers = _teachers(manifests)
    summaries = [_summary(s, m.get("summary"), teachers) for s, m in zip(stores, manifests, strict=True)]
    correct, n = RATES["test_accuracy_after"]
    for before, after in pairwise(summaries):  # round k starts from k-1's student
        if after.get("test_accuracy_before") is None:
            after["test_accuracy_before"] = before.get("test_accuracy_after")
            after["test_correct_before"], after["test_n_before"] = before.get(correct), before.get(n)
    hashes = sorted({str(m["config_hash"]) for m in manifests if m.get("config_hash")})
    config = next((m["config"] for m in reversed(manifests) if m.get("config")), {})
    facts = {
        "run id": run_id,
        "config hash": ", ".join(hashes) or "-",
        "student": (config.get("student") or {}).get("model", "-"),
        "dataset": (config.get("dataset") or {}).get("name", "-"),
        "teachers": ", ".join(teachers) or "-",
        "rounds": len(stores),
        "code version": next((m["code_version"] for m in reversed(manifests) if m.get("code_version")), "-"),
        "folder": run.root,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    body = [
        f"<h1>FAIR run {_e(run_id)}</h1>",
        "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items()) + "</dl>",
        "<h2>Rounds</h2>",
        _summary_table(summaries) if summaries else _note(f"No rounds yet under {run.root}."),
        "<h2>Student accuracy per round</h2>",
    ]
    accuracy = run_accuracy_rows(run)
    if accuracy:
        title = f"FAIR run {run_id}"
        shown = [
            {k: v for k, v in r.items() if k not in ("accuracy_low", "accuracy_high")}
            | {"95% CI": interval_cell(r)}
            for r in accuracy
        ]
        body += [
            _image(plot_accuracy(accuracy, title), "accuracy per round (bars: 95% interval)"),
            _table(shown, ("table", "split", "dataset", "model", "interval", "95% CI", "seed_accuracies")),
        ]
    else:
        body.append(_note("No student answers evaluated yet."))
    body.append("<h2>Rationales accepted per teacher</h2>")
    acceptance = [r for s in stores for r in acceptance_rows(s.round, s.rows_if_present("acceptance"))]
    body.append(_table(acceptance, ("teacher",)) if acceptance else _note("No rationales judged yet."))
    body.append("<h2>Teacher calls and cost per provider and role</h2>")
    costs = [{"round": s.round, **r} for s in stores for r in cost_rows(s.rows_if_present("teacher_calls"))]
    body.append(_table(costs, ("provider", "role")) if costs else _note("No teacher calls yet."))
    body += [_round_section(s, teachers, m) for s, m in zip(stores, summaries, strict=True)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>FAIR run {_e(run_id)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_run_report(data_dir: str | Path, run_id: str, out: Path | None = None) -> Path:
    """`render_run_report` written to `out` (default `<data_dir>/runs/<run_id>/report.html`)."""
    text = render_run_report(data_dir, run_id)
    path = out if out is not None else RunStore(data_dir, run_id).root / REPORT_FILE
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
