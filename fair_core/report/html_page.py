"""`fair report`: one self-contained HTML page of a run (inline CSS, plots embedded as PNG data URIs)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from fair_core.committee_stats import committee_stats
from fair_core.evaluation import run_accuracy_rows
from fair_core.report.committee import committee_html
from fair_core.report.html_parts import CSS, cost_table, esc, image, note, summary_table, table
from fair_core.report.markdown import interval_cell
from fair_core.report.plots import (
    REVIEW_PLOT,
    loss_plot,
    plot_accuracy,
    plot_review_scores,
    review_score_counts,
    train_record,
)
from fair_core.report.story import (
    accuracy_story_rows,
    config_facts,
    facts_html,
    teacher_config_rows,
    viewer_html,
    yaml_html,
)
from fair_core.report.summary import (
    RATES,
    acceptance_rows,
    cost_rows,
    round_summary,
    teacher_cost_rows,
)
from fair_core.store.parquet import RoundStore, RunStore, atomic_write_bytes

REPORT_FILE = "report.html"


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


def _config(run: RunStore, manifests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's stored config (`config.json`), else the latest round's config in its manifest."""
    import json

    try:
        stored = json.loads(run.config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = None
    if isinstance(stored, dict):
        return stored
    return next((dict(m["config"]) for m in reversed(manifests) if m.get("config")), {})


def _round_section(store: RoundStore, teachers: Sequence[str], summary: Mapping[str, Any]) -> str:
    """Review-score histogram per teacher and the loss curve of one round, or notes saying what is missing."""
    parts = [f'<h2 id="round-{store.round}">Round {store.round}</h2>']
    if summary.get("state") != "finished":
        parts.append(note("This round has not finished: the numbers are those of the tables written so far."))
    parts.append("<h3>Peer-review scores received per teacher</h3>")
    reviews = store.rows_if_present("reviews")
    if reviews:
        counts = review_score_counts(reviews, teachers)
        title = f"Peer-review scores received, round {store.round}"
        saved = store.path / REVIEW_PLOT
        parts.append(image(plot_review_scores(counts, title), title, saved if saved.is_file() else None))
        parts.append(table([{"author": a, **c} for a, c in counts.items()], text=("author",)))
    else:
        parts.append(
            note("No peer reviews in this round (no mistakes, review disabled, or not reached yet).")
        )
    if reviews or store.exists("rationales"):
        parts.append(committee_html(committee_stats(store)))  # acceptance, agreement, cost per teacher
    parts.append("<h3>Training loss</h3>")
    drawn = loss_plot(store)
    if drawn is None:
        parts.append(
            note("No trained model in this round yet (training not reached, running, or no samples).")
        )
    else:
        png, path = drawn
        parts.append(image(png, f"training loss, round {store.round}", path))
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
        parts.append(table([numbers], text=("method",)))
    return "\n".join(parts)


def render_run_report(data_dir: str | Path, run_id: str, out: Path | None = None) -> str:
    """The whole report of run `run_id` under `<data_dir>/runs/` as one HTML string (no external files):
    first the run's story (its config, accuracy per round with n and interval, cost per teacher, the
    viewer link, relative to `out`), then the tables of every round.

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
    config = _config(run, manifests)
    done = sum(s.get("state") == "finished" for s in summaries)
    about = {
        "run id": run_id,
        "code version": next((m["code_version"] for m in reversed(manifests) if m.get("code_version")), "-"),
        "folder": run.root,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    body = [f"<h1>FAIR run {esc(run_id)}</h1>", viewer_html(run.root, run_id, out), "<h2>The run</h2>"]
    body.append(facts_html(config_facts(config, done)) if config else note("No stored config."))
    committee = teacher_config_rows(config)
    if committee:
        body += ["<h3>Teachers</h3>", table(committee, ("teacher", "provider", "model", "endpoint"))]
    elif teachers:
        body.append(facts_html({"teachers": ", ".join(teachers)}))
    if config:
        body.append(yaml_html(config, hashes))
    body.append(facts_html(about))
    body.append("<h2>Student accuracy per round</h2>")
    if summaries:
        story = accuracy_story_rows(summaries)
        body.append(table(story, ("round", *(k for k in story[0] if "accuracy" in k))))
    accuracy = run_accuracy_rows(run)
    if accuracy:
        title = f"FAIR run {run_id}"
        shown = [
            {k: v for k, v in r.items() if k not in ("accuracy_low", "accuracy_high")}
            | {"95% CI": interval_cell(r)}
            for r in accuracy
        ]
        body += [
            image(plot_accuracy(accuracy, title), "accuracy per round (bars: 95% interval)"),
            "<h3>Every evaluation (student, split, dataset)</h3>",
            table(shown, ("table", "split", "dataset", "model", "interval", "95% CI", "seed_accuracies")),
        ]
    else:
        body.append(note("No student answers evaluated yet."))
    models = {str(t["teacher"]): (str(t["provider"]), str(t["model"])) for t in committee if t.get("teacher")}
    calls = [c for s in stores for c in s.rows_if_present("teacher_calls")]
    body.append("<h2>Cost per teacher</h2>")
    if calls:
        body.append(cost_table(teacher_cost_rows(calls, models)))
        per_round = [
            {"round": s.round, **r} for s in stores for r in cost_rows(s.rows_if_present("teacher_calls"))
        ]
        body.append("<details><summary>Per round and role</summary>" + cost_table(per_round) + "</details>")
    else:
        body.append(note("No teacher calls yet."))
    body.append("<h2>Rationales accepted per teacher</h2>")
    acceptance = [r for s in stores for r in acceptance_rows(s.round, s.rows_if_present("acceptance"))]
    body.append(table(acceptance, ("teacher",)) if acceptance else note("No rationales judged yet."))
    body.append("<h2>Rounds</h2>")
    if summaries:
        body += [
            summary_table(summaries),
            "<details><summary>The same numbers by their summary keys (manifest.json)</summary>"
            + summary_table(summaries, raw=True)
            + "</details>",
        ]
    else:
        body.append(note(f"No rounds yet under {run.root}."))
    body += [_round_section(s, teachers, m) for s, m in zip(stores, summaries, strict=True)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>FAIR run {esc(run_id)}</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_run_report(data_dir: str | Path, run_id: str, out: Path | None = None) -> Path:
    """`render_run_report` written to `out` (default `<data_dir>/runs/<run_id>/report.html`)."""
    path = out if out is not None else RunStore(data_dir, run_id).root / REPORT_FILE
    text = render_run_report(data_dir, run_id, path)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
