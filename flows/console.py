"""Terminal display for the CLI: a live progress bar per stage and the per-round summary table."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

console = Console(stderr=True)

SUMMARY_COLUMNS = {
    "round": "round",
    "train_accuracy": "student accuracy (train)",
    "mistakes": "mistakes",
    "teacher_calls": "teacher calls",
    "requests_sent": "  sent to a provider",
    "from_cache": "  from cache",
    "failed_calls": "  failed",
    "replayed_calls": "  replayed",
    "cost_usd": "teacher cost this run",
    "rationales_accepted": "rationales accepted",
    "rationale_samples": "rationale samples",
    "feedback_samples": "feedback samples",
    "test_accuracy_before": "test accuracy before",
    "test_accuracy_after": "test accuracy after",
}


class RateColumn(ProgressColumn):
    """Items per second of a stage (rich's own speed column shows bytes)."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "", style="progress.data.speed")


class RichProgressSink:
    """`fair_core.progress.ProgressSink` drawing one rich progress bar per running stage."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._ids: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgressSink:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int) -> None:
        with self._lock:
            if stage in self._ids:
                self._progress.reset(self._ids[stage], total=total, info="")
            else:
                self._ids[stage] = self._progress.add_task(stage, total=total, info="")

    def update(self, stage: str, done: int, total: int, info: str = "") -> None:
        with self._lock:
            if stage not in self._ids:
                self._ids[stage] = self._progress.add_task(stage, total=total, info="")
            self._progress.update(self._ids[stage], completed=done, total=total, info=info)

    def finish(self, stage: str) -> None:
        with self._lock:
            task_id = self._ids.get(stage)
            if task_id is not None:
                total = self._progress.tasks[task_id].total
                self._progress.update(task_id, completed=total)


def _cell(value: Any, key: str = "") -> str:
    if value is None:
        return "-"
    if key.endswith("_usd"):
        return f"${float(value):.4f}"
    if isinstance(value, float):
        return f"{value:.1%}"
    return str(value)


def _summary_cell(summary: dict[str, Any], key: str) -> str:
    """A summary value; an accuracy with its counts and 95% Wilson interval on a second line."""
    from fair_core.report.summary import RATES, summary_rate

    rate = summary_rate(summary, key) if key in RATES else None
    if rate is None or rate.rate is None or rate.low is None or rate.high is None:
        return _cell(summary.get(key), key)
    return f"{rate.rate:.1%} ({rate.k}/{rate.n})\n95% CI {rate.low:.1%}-{rate.high:.1%}"


def teacher_labels(config: Mapping[str, Any] | None) -> dict[str, str]:
    """Teacher name -> "provider model" from a config (dict form), for the per-teacher cost rows."""
    teachers = (config or {}).get("teachers") or []
    return {
        str(t.get("name")): f"{t.get('provider', 'openai')} {t.get('model', '?')}"
        for t in teachers
        if isinstance(t, Mapping)
    }


def summary_table(
    summaries: Sequence[dict[str, Any]], title: str, teachers: Mapping[str, str] | None = None
) -> Table:
    """The per-round table, one column per round (fits a narrow terminal): student accuracy (with n and a
    95% interval), mistakes, teacher calls, cost per teacher (`teachers`: name -> "provider model", shown
    beside it) and per role, rationales accepted per teacher, training samples. Summaries saved before
    costs were kept per teacher show their cost per provider instead."""
    from fair_core.report.summary import ROLES, TEACHER_COST

    first = summaries[0] if summaries else {}
    accepted = [k for k in first if k.startswith("accepted_")]
    per_teacher = sorted(
        {k for s in summaries for k in s if k.startswith(TEACHER_COST) and k.endswith("_usd")}
    )
    roles = [f"cost_{r}_usd" for r in ROLES]
    providers = sorted(
        {
            k
            for s in summaries
            for k in s
            if k.startswith("cost_") and k.endswith("_usd") and k != "cost_usd" and k not in roles
        }
    )
    present = {k for s in summaries for k in s}
    labels = dict(teachers or {})
    rows: dict[str, str] = {}
    for key, label in SUMMARY_COLUMNS.items():
        if key == "replayed_calls" and not any(key in s for s in summaries):
            continue  # only a replayed committee has it
        if key != "round":
            rows[key] = label
        if key == "rationales_accepted":
            rows.update({t: f"  from {t.removeprefix('accepted_')}" for t in accepted})
        if key == "cost_usd":
            for k in per_teacher or providers:  # by teacher; an old summary: by wire protocol
                name = k[len(TEACHER_COST) : -4] if per_teacher else k[5:-4]
                where = f" ({labels[name]})" if per_teacher and name in labels else ""
                rows[k] = f"  by {name}{where}" if per_teacher else f"  on {name}"
            rows.update({r: f"  for {r[5:-4]}" for r in roles if r in present})
    table = Table(title=title)
    table.add_column("")
    for summary in summaries:
        table.add_column(f"round {summary['round']}", justify="right")
    for key, label in rows.items():
        table.add_row(label, *(_summary_cell(s, key) for s in summaries))
    plot = summaries[-1].get("accuracy_plot") if summaries else None
    if plot:
        table.caption = f"accuracy per round (plot): {plot}"
    return table
