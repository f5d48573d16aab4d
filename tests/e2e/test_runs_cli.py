"""`fair runs`: every run under a data dir with its state (finished, running: lock held, failed, partial),
rounds done/planned, last stage, the last round's test accuracy with n and interval, and cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from fair_core.run_list import list_runs, lock_held, run_info, write_outcome
from fair_core.store import RunStore
from flows.cli import app
from tests.core.report_store import RUN_ID, build_run

HOLD = """
import sys
from fair_core.locks import run_lock
with run_lock(sys.argv[1], sys.argv[2], command="fair run -c x.yaml"):
    print("held", flush=True)
    sys.stdin.read()
"""


def _run(data_dir: Path, run_id: str, rounds: int, summaries: list[dict | None], name: str = "r") -> RunStore:
    """A run folder as `fair run` leaves it: config.json, one manifest per round (summary when done)."""
    run = RunStore(data_dir, run_id)
    run.save_config({"run": {"name": name, "rounds": rounds}, "teachers": []})
    for k, summary in enumerate(summaries):
        store = run.round(k)
        store.write(
            "examples", [{"id": "a", "split": "train", "dataset": "d", "question": "q", "answer": "1"}]
        )
        store.record_stage("build-training-set", inputs={}, outputs=["training_samples"])
        if summary is not None:
            store.set_meta(summary=summary)
    return run


def _done(k: int, correct: int, n: int, cost: float) -> dict:
    return {"round": k, "test_accuracy_after": correct / n, "test_correct_after": correct, "test_n_after": n,
            "cost_usd": cost}  # fmt: skip


def test_states_of_hand_built_runs(tmp_path: Path) -> None:
    _run(tmp_path, "finished", 2, [_done(0, 1, 4, 0.5), _done(1, 3, 4, 0.25)])
    failed = _run(tmp_path, "failed", 2, [_done(0, 2, 4, 1.0), None])
    write_outcome(failed.root, "failed", "teacher 'gpt' needs an API key")
    stopped = _run(tmp_path, "stopped", 1, [None])
    write_outcome(stopped.root, "stopped")
    _run(tmp_path, "running", 1, [None])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "running"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        infos = {i.run_id: i for i in list_runs(tmp_path)}
        assert infos["running"].state == "running" and infos["running"].detail == f"pid {holder.pid}"
        assert lock_held(tmp_path / "runs" / "running" / ".run.lock")
        result = CliRunner().invoke(app, ["runs", "--data-dir", str(tmp_path)])
    finally:
        holder.communicate("")  # stdin closed: the holder ends and its lock goes
    assert not lock_held(tmp_path / "runs" / "running" / ".run.lock")
    assert run_info(tmp_path, "running").state == "partial"

    finished = infos["finished"]
    assert (finished.state, finished.rounds_done, finished.rounds_planned) == ("finished", 2, 2)
    assert finished.test_round == 1 and (finished.test_accuracy.k, finished.test_accuracy.n) == (3, 4)
    assert finished.cost_usd == 0.75 and finished.last_stage == "round 1: done"
    assert infos["failed"].state == "failed" and "API key" in (infos["failed"].detail or "")
    assert infos["failed"].last_stage == "round 1: training set" and infos["failed"].rounds_done == 1
    assert infos["stopped"].state == "partial" and infos["stopped"].detail == "stopped"

    assert result.exit_code == 0, result.output
    text = result.output
    for part in ("finished", "running (pid", "failed (teacher 'gpt'", "partial (stopped)"):
        assert part in text, text  # long cells wrap in the table
    assert "round 1: 75.0% (3/4, 95% CI" in text and "2/2" in text and "$0.7500" in text


def test_a_report_fixture_run_and_an_empty_data_dir(tmp_path: Path) -> None:
    """The report tests' run (round 0 finished, round 1 running; no config.json: planned unknown)."""
    build_run(tmp_path)
    info = run_info(tmp_path, RUN_ID)
    assert info.rounds_planned is None and info.rounds_done == 1 and info.state == "partial"
    assert info.last_stage == "round 1: student answers"
    assert info.cost_usd == 0.75  # round 0's summary has no cost: from its teacher_calls
    result = CliRunner().invoke(app, ["runs", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and RUN_ID in result.output and "1/?" in result.output
    empty = CliRunner().invoke(app, ["runs", "--data-dir", str(tmp_path / "nothing")])
    assert empty.exit_code == 0 and "No runs under" in empty.output
    (tmp_path / "runs" / "stray-file").write_text("x")
    (tmp_path / "runs" / "not-a-run").mkdir()
    assert [i.run_id for i in list_runs(tmp_path)] == [RUN_ID]


def test_outcome_is_json_beside_the_rounds(tmp_path: Path) -> None:
    run = _run(tmp_path, "x", 1, [None])
    write_outcome(run.root, "finished")
    assert json.loads((run.root / "outcome.json").read_text())["state"] == "finished"
    write_outcome(tmp_path / "runs" / "missing", "failed")  # no run folder: nothing written
    assert not (tmp_path / "runs" / "missing").exists()
