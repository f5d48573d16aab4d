"""bench/prefect_overhead.py: the interval arithmetic and the reading of Prefect's SQLite database
(bench/ is not a package: the module is loaded by path)."""

from __future__ import annotations

import importlib.util
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "prefect_overhead.py"


@pytest.fixture(scope="module")
def po():
    spec = importlib.util.spec_from_file_location("prefect_overhead", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_ts_is_utc_whatever_the_format(po) -> None:
    expected = datetime(2026, 12, 1, 21, 43, 28, 323024, tzinfo=UTC).timestamp()
    assert po.parse_ts("2026-12-01 21:43:28.323024") == expected  # SQLite: naive UTC text
    assert po.parse_ts("2026-12-01T22:43:28.323024+01:00") == expected
    assert po.parse_ts("2026-12-01T21:43:28.323024Z") == expected
    assert po.parse_ts(datetime(2026, 12, 1, 21, 43, 28, 323024)) == expected
    assert po.parse_ts(None) is None


def test_union_counts_concurrent_time_once(po) -> None:
    assert po.union_seconds([]) == 0
    assert po.union_seconds([(0, 10), (2, 5), (4, 12), (20, 21)]) == 13
    assert po.union_seconds([(0, 1), (1, 2)]) == 2  # touching
    assert po.union_seconds([(5, 3), (1, 1)]) == 0  # reversed and empty dropped
    assert po.union_seconds([(0, 10), (15, 30)], window=(5, 20)) == 10  # clipped to the window
    assert po.merge([(3, 4), (0, 2), (1, 3)]) == [(0, 4)]


def test_outside_breakdown_adds_up(po) -> None:
    b = po.outside_breakdown([(2, 4), (3, 6), (8, 9)], (0, 10))
    assert b == {"wall": 10, "inside": 5, "outside": 5, "head": 2, "gaps": 2, "tail": 1}
    assert po.outside_breakdown([], (0, 4))["outside"] == 4
    assert po.share(1, 4) == 0.25 and po.share(1, 0) == 0


def _flow(fid, name, flow, start, end, parent=None):
    return {
        "id": fid,
        "name": name,
        "flow": flow,
        "start": start,
        "end": end,
        "state_name": "Completed",
        "parent_task_run_id": parent,
    }


def _task(tid, name, flow_run, start, end, state="Completed"):
    return {"id": tid, "name": name, "flow_run_id": flow_run, "start": start, "end": end, "state_name": state}


def test_analyse_one_command(po) -> None:
    flows = [
        _flow("old", "earlier", "fair-pipeline", 50, 60),  # an earlier command on the same database
        _flow("p", "pipe", "fair-pipeline", 110, 200),
        _flow("r0", "round-0", "fair-round", 112, 150, parent="sub0"),
        _flow("r1", "round-1", "fair-round", 152, 195, parent="sub1"),
    ]
    tasks = [
        _task("sub0", "fair-round-a", "p", 111, 151),  # stands for subflow round-0: not a task body
        _task("sub1", "fair-round-b", "p", 151, 196),
        _task("a", "load", "r0", 113, 130),
        _task("b", "teacher-1", "r0", 131, 140),
        _task("c", "teacher-2", "r0", 132, 141),  # concurrent with teacher-1
        _task("d", "evaluate", "r0", 142, 148),
        _task("e", "load", "r1", 153, 153.01, state="Cached"),
        _task("f", "train", "r1", 154, 194),
        _task("g", "summarize-run", "p", 196, 199),
        _task("x", "other", "old", 51, 59),
        _task("u", "never-finished", "r1", 160, None),
    ]
    fig = po.analyse(flows, tasks, t0=100, t1=210, server_start=104)
    r0, r1 = fig["rounds"]
    assert r0["name"] == "round-0" and r0["wall"] == 38
    assert r0["inside"] == 17 + 10 + 6  # 131-141 once
    assert r0["outside"] == 5 and r0["head"] == 1 and r0["tail"] == 2 and r0["gaps"] == 2
    assert r0["share"] == pytest.approx(5 / 38)
    assert (r0["tasks"], r0["cached"]) == (4, 0)
    assert (r1["tasks"], r1["cached"]) == (3, 1)
    assert r1["inside"] == pytest.approx(40.01)
    assert (fig["tasks"], fig["cached"], fig["unfinished"]) == (8, 1, 1)
    c = fig["command"]
    assert c["wall"] == 110 and c["before_pipeline"] == 10 and c["after_pipeline"] == 10
    assert c["before_server"] == 4 and c["server_to_pipeline"] == 6
    assert c["inside"] == pytest.approx(33 + 40.01 + 3)
    assert fig["pipeline"]["wall"] == 90
    assert fig["pipeline"]["outside"] == pytest.approx(90 - 76.01)
    assert [t["name"] for t in fig["longest"][:2]] == ["train", "load"]
    assert fig["longest"][0]["flow_run"] == "round-1"
    with pytest.raises(RuntimeError):
        po.analyse(flows, tasks, t0=300, t1=400)


def test_server_times_from_the_log(po) -> None:
    t0 = datetime(2026, 12, 1, 23, 59, 50, tzinfo=UTC).timestamp()
    log = (
        "\x1b[32m23:59:55.250 | INFO    | prefect - Starting temporary server on http://127.0.0.1:8414\x1b[0m\n"
        "00:00:05.000 | INFO    | Flow run 'x' - Beginning flow run\n"
        "00:01:00.500 | INFO    | prefect - Stopping temporary server on http://127.0.0.1:8414\n"
    )
    start, stop = po.server_times(log, t0, t0 + 80)
    assert start == t0 + 5.25
    assert stop == t0 + 70.5  # the next day
    assert po.server_times("nothing here", t0, t0 + 1) == (None, None)


def test_read_db(po, tmp_path: Path) -> None:
    db = tmp_path / "prefect.db"
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE flow (id TEXT, name TEXT);
        CREATE TABLE flow_run (id TEXT, name TEXT, flow_id TEXT, start_time DATETIME, end_time DATETIME,
                               state_name TEXT, parent_task_run_id TEXT);
        CREATE TABLE task_run (id TEXT, name TEXT, flow_run_id TEXT, start_time DATETIME,
                               end_time DATETIME, state_name TEXT);
        INSERT INTO flow VALUES ('f1', 'fair-round');
        INSERT INTO flow_run VALUES ('r0', 'round-0', 'f1', '2026-12-01 21:43:29.196021',
                                     '2026-12-01 21:43:30.205815', 'Completed', 'sub0');
        INSERT INTO task_run VALUES ('t', 'work-1', 'r0', '2026-12-01 21:43:29.308147', NULL, 'Running');
        """
    )
    con.commit()
    con.close()
    flows, tasks = po.read_db(db)
    assert flows[0]["flow"] == "fair-round" and flows[0]["parent_task_run_id"] == "sub0"
    assert flows[0]["end"] - flows[0]["start"] == pytest.approx(1.009794)
    assert tasks[0]["end"] is None and tasks[0]["state_name"] == "Running"
