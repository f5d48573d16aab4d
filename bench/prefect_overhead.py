"""Prefect's share of the demo's wall time, from the embedded server's records of one cold `fair demo`:
`python bench/prefect_overhead.py [--rounds N] [--keep DIR] [--rerun]`.

Runs `fair demo` the way users do, in a subprocess, cold: a fresh data dir and a fresh `PREFECT_HOME` (so
the embedded server creates its SQLite database, and no stage is cached). The command's wall time is taken
from outside. Afterwards the flow runs and task runs are read from the embedded server's database
(`$PREFECT_HOME/prefect.db`, set explicitly through `PREFECT_SERVER_DATABASE_CONNECTION_URL`) with the
sqlite3 module: nothing in the project is imported or instrumented.

Time inside task bodies is the union of the task runs' [start, end] intervals (teacher tasks run
concurrently, so their times are not added up). Everything else is outside them: process start and
imports, the embedded server's start, flow and task state changes, cache lookups, flow-body glue code and
the server's stop. Per round (`fair-round` flow runs, `round-0`, `round-1`, ...):

    Prefect's share = (round flow run wall - union of its task runs' intervals) / round flow run wall

and the same for the `fair-pipeline` flow run and for the whole command. The command's time before the
pipeline flow run starts is split at Prefect's "Starting temporary server" log line into what comes before
the server (interpreter, imports, CLI, teacher simulator) and the server's start plus the flow run's
creation. It also counts task runs and cache hits (state 'Cached') and lists the 5 longest task runs.

Options: `--rounds N` (default: the demo preset's 2), `--keep DIR` (work in DIR and keep it: data dir,
PREFECT_HOME, the demo's output log, the figures as JSON; default: a temporary folder, deleted),
`--rerun` (run the demo a second time on the same data dir and PREFECT_HOME: every stage is a cache hit,
so it shows what a fully cached rerun costs). Takes about 7-10 minutes on 2 shared cores (the rerun adds
about one minute). The pure interval arithmetic is tested in tests/core/test_bench_overhead.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

PIPELINE_FLOW = "fair-pipeline"
ROUND_FLOW = "fair-round"
SERVER_LOG = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) \| \w+\s*\| prefect - (Starting|Stopping) temporary server"
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# -- pure helpers (tested) ----------------------------------------------------------------------------


def parse_ts(value: Any) -> float | None:
    """A timestamp from Prefect's database as epoch seconds. SQLite stores naive UTC text
    ('2026-12-01 21:43:28.323024'); an explicit offset is honoured; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def merge(
    intervals: list[tuple[float, float]], window: tuple[float, float] | None = None
) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time as `intervals`, clipped to `window` when given
    (empty and reversed intervals dropped)."""
    clipped = []
    for start, end in intervals:
        if window is not None:
            start, end = max(start, window[0]), min(end, window[1])
        if end > start:
            clipped.append((start, end))
    merged: list[tuple[float, float]] = []
    for start, end in sorted(clipped):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def union_seconds(intervals: list[tuple[float, float]], window: tuple[float, float] | None = None) -> float:
    """Seconds covered by at least one interval (concurrent intervals counted once), within `window`."""
    return sum(end - start for start, end in merge(intervals, window))


def outside_breakdown(intervals: list[tuple[float, float]], window: tuple[float, float]) -> dict[str, float]:
    """The time of `window` outside every interval: before the first one (head), between them (gaps),
    after the last one (tail), and in all (outside)."""
    merged = merge(intervals, window)
    wall = window[1] - window[0]
    if not merged:
        return {"wall": wall, "inside": 0.0, "outside": wall, "head": wall, "gaps": 0.0, "tail": 0.0}
    inside = sum(end - start for start, end in merged)
    head, tail = merged[0][0] - window[0], window[1] - merged[-1][1]
    return {
        "wall": wall,
        "inside": inside,
        "outside": wall - inside,
        "head": head,
        "gaps": wall - inside - head - tail,
        "tail": tail,
    }


def share(part: float, whole: float) -> float:
    """part / whole, 0 for an empty whole."""
    return part / whole if whole > 0 else 0.0


def analyse(
    flow_runs: list[dict[str, Any]],
    task_runs: list[dict[str, Any]],
    t0: float,
    t1: float,
    server_start: float | None = None,
) -> dict[str, Any]:
    """The figures of one `fair demo` command that ran from t0 to t1 (epoch seconds).

    `flow_runs`: dicts with id, name, flow, start, end (epoch seconds or None), parent_task_run_id;
    `task_runs`: dicts with id, name, flow_run_id, start, end, state_name. The command's pipeline flow
    run is the `fair-pipeline` run that started within [t0, t1] (the latest one if several); its flow
    runs are it and its subflow runs (recursively). The task runs that stand for a subflow in its parent
    (Prefect records one per subflow call) are not task bodies and are left out."""
    pipelines = [
        f
        for f in flow_runs
        if f["flow"] == PIPELINE_FLOW and f["start"] is not None and t0 <= f["start"] <= t1
    ]
    if not pipelines:
        raise RuntimeError(f"no {PIPELINE_FLOW} flow run started during the command")
    pipeline = max(pipelines, key=lambda f: f["start"])
    pipeline_end = pipeline["end"] if pipeline["end"] is not None else t1

    subflow_tasks = {f["parent_task_run_id"] for f in flow_runs if f.get("parent_task_run_id")}
    task_flow = {t["id"]: t["flow_run_id"] for t in task_runs}
    parent_of = {  # flow run id -> parent flow run id
        f["id"]: task_flow.get(f["parent_task_run_id"]) for f in flow_runs if f.get("parent_task_run_id")
    }

    def descends(flow_id: str, ancestor: str) -> bool:
        seen = set()
        while flow_id is not None and flow_id not in seen:
            if flow_id == ancestor:
                return True
            seen.add(flow_id)
            flow_id = parent_of.get(flow_id)
        return False

    ours = {f["id"]: f for f in flow_runs if descends(f["id"], pipeline["id"])}
    tasks = [t for t in task_runs if t["flow_run_id"] in ours and t["id"] not in subflow_tasks]
    unfinished = [t for t in tasks if t["start"] is None or t["end"] is None]
    done = [t for t in tasks if t["start"] is not None and t["end"] is not None]

    def spans(flow_id: str) -> list[tuple[float, float]]:
        return [(t["start"], t["end"]) for t in done if descends(t["flow_run_id"], flow_id)]

    rounds = []
    for f in sorted(
        (f for f in ours.values() if f["flow"] == ROUND_FLOW and f["start"] is not None),
        key=lambda f: f["start"],
    ):
        end = f["end"] if f["end"] is not None else pipeline_end
        figures = outside_breakdown(spans(f["id"]), (f["start"], end))
        in_round = [t for t in tasks if descends(t["flow_run_id"], f["id"])]
        figures.update(
            name=f["name"],
            share=share(figures["outside"], figures["wall"]),
            tasks=len(in_round),
            cached=sum(t["state_name"] == "Cached" for t in in_round),
        )
        rounds.append(figures)

    all_spans = [(t["start"], t["end"]) for t in done]
    pipe = outside_breakdown(all_spans, (pipeline["start"], pipeline_end))
    pipe["share"] = share(pipe["outside"], pipe["wall"])
    wall = t1 - t0
    inside = union_seconds(all_spans, (t0, t1))
    before = pipeline["start"] - t0
    command = {
        "wall": wall,
        "inside": inside,
        "outside": wall - inside,
        "before_pipeline": before,
        "after_pipeline": t1 - pipeline_end,
        "pipeline_outside": pipe["outside"],
    }
    if server_start is not None and t0 <= server_start <= pipeline["start"]:
        command["before_server"] = server_start - t0
        command["server_to_pipeline"] = pipeline["start"] - server_start
    flow_name = {fid: f["name"] for fid, f in ours.items()}
    longest = sorted(done, key=lambda t: t["end"] - t["start"], reverse=True)[:5]
    return {
        "command": command,
        "pipeline": pipe,
        "rounds": rounds,
        "tasks": len(tasks),
        "cached": sum(t["state_name"] == "Cached" for t in tasks),
        "unfinished": len(unfinished),
        "longest": [
            {"name": t["name"], "flow_run": flow_name.get(t["flow_run_id"]), "seconds": t["end"] - t["start"]}
            for t in longest
        ],
    }


def server_times(log_text: str, t0: float, t1: float) -> tuple[float | None, float | None]:
    """Epoch seconds of Prefect's 'Starting/Stopping temporary server' log lines (HH:MM:SS.mmm in the
    child's local time, which the bench sets to UTC), placed on the day that puts them nearest the
    command's run [t0, t1]."""
    found: dict[str, float] = {}
    for line in log_text.splitlines():
        match = SERVER_LOG.match(ANSI.sub("", line).strip())
        if not match or match.group(5) in found:
            continue
        hh, mm, ss, ms = (int(g) for g in match.groups()[:4])
        day = datetime.fromtimestamp(t0, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        candidates = [
            (day + timedelta(days=d, hours=hh, minutes=mm, seconds=ss, milliseconds=ms)).timestamp()
            for d in (-1, 0, 1)
        ]
        found[match.group(5)] = min(candidates, key=lambda c: max(t0 - c, c - t1, 0.0))
    return found.get("Starting"), found.get("Stopping")


# -- reading the database, running the demo -----------------------------------------------------------


def read_db(db: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Flow runs and task runs from the embedded server's SQLite database, timestamps as epoch seconds."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        flows = [
            {
                "id": fid,
                "name": name,
                "flow": flow,
                "start": parse_ts(start),
                "end": parse_ts(end),
                "state_name": state,
                "parent_task_run_id": parent,
            }
            for fid, name, flow, start, end, state, parent in con.execute(
                "SELECT fr.id, fr.name, f.name, fr.start_time, fr.end_time, fr.state_name,"
                " fr.parent_task_run_id FROM flow_run fr JOIN flow f ON f.id = fr.flow_id"
            )
        ]
        tasks = [
            {
                "id": tid,
                "name": name,
                "flow_run_id": flow_run,
                "start": parse_ts(start),
                "end": parse_ts(end),
                "state_name": state,
            }
            for tid, name, flow_run, start, end, state in con.execute(
                "SELECT id, name, flow_run_id, start_time, end_time, state_name FROM task_run"
            )
        ]
    finally:
        con.close()
    return flows, tasks


def run_demo(work: Path, rounds: int | None, label: str) -> dict[str, Any]:
    """`fair demo --data-dir WORK/data` (python -m flows.cli, from the repository root) with PREFECT_HOME
    WORK/prefect-home; returns its figures."""
    home = work / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        TZ="UTC",  # Prefect's log lines carry local HH:MM:SS: make it UTC, as in the database
    )
    command = [sys.executable, "-m", "flows.cli", "demo", "--data-dir", str(work / "data")]
    if rounds is not None:
        command += ["--rounds", str(rounds)]
    log = work / f"demo-{label}.log"
    print(f"[{label}] {' '.join(command)}  (cwd {ROOT}; output in {log})", flush=True)
    with log.open("w") as out:
        t0 = time.time()
        rc = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
        t1 = time.time()
    text = log.read_text(errors="replace")
    if rc != 0:
        print(text[-3000:])
        raise SystemExit(f"[{label}] fair demo exited with {rc} after {t1 - t0:.0f} s; log: {log}")
    flows, tasks = read_db(home / "prefect.db")
    server_start, server_stop = server_times(text, t0, t1)
    figures = analyse(flows, tasks, t0, t1, server_start)
    if server_stop is not None:
        figures["command"]["server_stop_to_exit"] = t1 - server_stop
    figures["label"] = label
    return figures


# -- the table ------------------------------------------------------------------------------------------


def pct(part: float, whole: float) -> str:
    return f"{100 * share(part, whole):.1f}%"


def table(fig: dict[str, Any]) -> str:
    """The figures of one run as a text table: seconds and shares side by side."""
    c, p = fig["command"], fig["pipeline"]
    w = c["wall"]
    rows = [
        ("whole command (wall, from outside)", w, "100%", ""),
        ("  before the pipeline flow run starts", c["before_pipeline"], pct(c["before_pipeline"], w), ""),
    ]
    if "before_server" in c:
        rows += [
            ("    interpreter, imports, CLI, simulator", c["before_server"], pct(c["before_server"], w), ""),
            (
                "    embedded server start + flow run creation",
                c["server_to_pipeline"],
                pct(c["server_to_pipeline"], w),
                "",
            ),
        ]
    rows += [
        ("  fair-pipeline flow run", p["wall"], pct(p["wall"], w), ""),
        ("    inside task bodies (union)", p["inside"], pct(p["inside"], w), pct(p["inside"], p["wall"])),
        (
            "    outside task bodies (Prefect + glue)",
            p["outside"],
            pct(p["outside"], w),
            pct(p["outside"], p["wall"]),
        ),
        ("  after the pipeline flow run ends", c["after_pipeline"], pct(c["after_pipeline"], w), ""),
        ("  all outside task bodies", c["outside"], pct(c["outside"], w), ""),
    ]
    for r in fig["rounds"]:
        rows += [
            (f"{r['name']} flow run (wall)", r["wall"], pct(r["wall"], w), "100%"),
            ("  inside task bodies (union)", r["inside"], "", pct(r["inside"], r["wall"])),
            (f"  outside: PREFECT SHARE of {r['name']}", r["outside"], "", f"{100 * r['share']:.1f}%"),
            (
                "    before first task / between / after last",
                None,
                "",
                f"{r['head']:.1f} / {r['gaps']:.1f} / {r['tail']:.1f} s",
            ),
            ("  task runs (cache hits)", None, "", f"{r['tasks']} ({r['cached']})"),
        ]
    lines = [f"{'':48} {'seconds':>9} {'of command':>10} {'of flow run':>12}"]
    for name, seconds, of_command, of_flow in rows:
        sec = f"{seconds:9.1f}" if seconds is not None else " " * 9
        lines.append(f"{name:48} {sec} {of_command:>10} {of_flow:>12}")
    lines.append(
        f"task runs: {fig['tasks']}, cache hits: {fig['cached']}"
        + (f", not finished in the database: {fig['unfinished']}" if fig["unfinished"] else "")
    )
    lines.append("5 longest task runs:")
    for t in fig["longest"]:
        lines.append(
            f"  {t['name']:34} {t['flow_run'] or '?':16} {t['seconds']:8.1f} s {pct(t['seconds'], w):>7}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=None, help="FAIR rounds (default: the demo's 2).")
    parser.add_argument("--keep", type=Path, default=None, help="Work in DIR (fresh) and keep it.")
    parser.add_argument("--rerun", action="store_true", help="Then rerun on the same data (all cached).")
    args = parser.parse_args()
    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            raise SystemExit(f"--keep {args.keep}: the folder must be new or empty (the run must be cold)")
        work = args.keep.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="fair-prefect-overhead-"))
    try:
        results = [run_demo(work, args.rounds, "cold")]
        if args.rerun:
            results.append(run_demo(work, args.rounds, "rerun"))
        for fig in results:
            print(f"\n== {fig['label']} run ==")
            print(table(fig))
        if args.keep is not None:
            (work / "prefect_overhead.json").write_text(json.dumps(results, indent=2))
            print(f"\nfigures: {work / 'prefect_overhead.json'}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
