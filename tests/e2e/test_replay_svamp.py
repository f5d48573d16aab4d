"""Slow: `fair run --config replay-svamp`: the paper code's recorded SVAMP round 0 (real GPT-3.5, Gemini-1.0
and Mixtral text) teaches the real SmolLM2-135M student offline: no key, nothing sent, nothing paid."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fair_core.review import parse_score
from tests.conftest import ROOT
from tests.e2e.helpers import FAIR, link_models

#: Smaller than the preset: 24 train questions (13 of them in the recording), 4 test questions.
SMALL = ["--set", "dataset.train_limit=24", "--set", "dataset.test_limit=4"]
SMALL += ["--set", "student.max_new_tokens=64", "--set", "training.epochs=1"]
KEYS = {"gpt": "gpt", "gemini": "gemini", "mixtral": "mistral"}  # our teacher -> the paper code's JSON key
REVIEWERS = {"gpt": ("gemini", "mixtral"), "gemini": ("gpt", "mixtral"), "mixtral": ("gpt", "gemini")}


def table(round_dir: Path, name: str) -> list[dict]:
    path = round_dir / name
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [round_dir / f"{name}.parquet"]
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def stored_rows(cache: Path) -> int:
    """Replies and spend rows in the reply cache file (preflight creates it empty)."""
    if not cache.exists():
        return 0
    with sqlite3.connect(cache) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = {"responses", "spend"} & names
        return sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables)


@pytest.mark.slow
def test_the_recorded_paper_committee_trains_and_evaluates_smollm2_offline(
    cli_env: dict[str, str], tmp_path: Path, smollm2_models_dir: Path, shared_datasets: Path
) -> None:
    reference = shared_datasets / "reference_round0"
    recorded = {
        r["question"]: r for r in json.loads(next(reference.glob("*_rationale_round0.json")).read_text())
    }
    feedback = {
        r["question"]: r for r in json.loads(next(reference.glob("*_feedback_round0.json")).read_text())
    }
    data = tmp_path / "data"
    link_models(smollm2_models_dir, data)
    assert not {"OPENAI_API_KEY", "GEMINI_API_KEY", "DEEPINFRA_API_KEY"} & set(cli_env)  # none could be sent
    args = [FAIR, "run", "--config", "replay-svamp", "--data-dir", str(data), *SMALL]
    # from the project root, as the preset's ../shared/datasets paths are relative to it
    done = subprocess.run(args, cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "calls replayed from" in done.stderr

    (run,) = (data / "runs").glob("replay-svamp-*")
    round0 = run / "round=0"
    questions = {r["id"]: r["question"] for r in table(round0, "examples")}
    calls = table(round0, "teacher_calls")
    assert calls and {c["mode"] for c in calls} == {"replay"} and {c["provider"] for c in calls} == {"replay"}
    assert sum(c["cost_usd"] for c in calls) == 0 and not any(c["cached"] for c in calls)
    assert stored_rows(data / "cache" / "teacher_responses.sqlite") == 0  # no reply cached, no spend
    ok = [c for c in calls if c["status"] == "ok"]
    assert {c["role"] for c in ok} == {"feedback", "rationale", "review"}
    for c in ok:  # each replayed text is the paper code's recorded text for that question
        row = recorded[questions[c["example_id"]]]
        if c["role"] == "rationale":
            assert c["text"] == row[f"{KEYS[c['teacher']]}_rationale"][0]
        elif c["role"] == "feedback":
            assert c["text"] == feedback[questions[c["example_id"]]][f"{KEYS[c['teacher']]}_feedback"]
        else:
            _, *scores = row[f"{KEYS[c['target']]}_rationale"]
            assert parse_score(c["text"]) == scores[REVIEWERS[c["target"]].index(c["teacher"])]
    missing = [c for c in calls if c["status"] != "ok"]
    assert all(c["error"].startswith("not in the recording") for c in missing)
    assert all(questions[c["example_id"]] not in recorded for c in missing if c["role"] != "review")
    mistaken = {m["example_id"] for m in table(round0, "mistakes")}
    assert {c["example_id"] for c in ok} == {i for i in mistaken if questions[i] in recorded}

    samples = table(round0, "training_samples")
    assert samples and {s["example_id"] for s in samples} <= {c["example_id"] for c in ok}
    assert (round0 / "student" / "model" / "adapter_model.safetensors").is_file()
    for name in ("baseline_evaluation", "evaluation"):
        rows = table(round0, name)
        assert len(rows) == 4 and all(isinstance(r["correct"], bool) for r in rows)
    assert "student accuracy" in done.stderr
