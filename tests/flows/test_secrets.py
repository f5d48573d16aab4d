"""An API key never reaches logs, artifacts, Parquet, the response cache, manifests or flow-run parameters."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from prefect.client.orchestration import get_client

from flows.pipeline import fair_pipeline
from flows.simulation import simulated_teachers

SECRET = "sk-live-THIS-KEY-MUST-NEVER-LEAK-0123456789"
WRONG = "sk-old-REVOKED-KEY-ALSO-SECRET-9876543210"


async def _server_records() -> str:
    async with get_client() as client:
        runs = await client.read_flow_runs()
        artifacts = await client.read_artifacts()
        logs = await client.read_logs()
    return json.dumps(
        {
            "parameters": [r.parameters for r in runs],
            "artifacts": [a.model_dump(mode="json") for a in artifacts],
            "logs": [log.message for log in logs],
        },
        default=str,
    )


def test_the_key_is_nowhere(tiny_config, caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FAIR_TEST_SECRET_KEY", SECRET)
    monkeypatch.setenv("FAIR_TEST_WRONG_KEY", WRONG)
    config = tiny_config(run={"name": "secrets"})
    with simulated_teachers(config) as (effective, simulator):
        simulator.state.required_key = SECRET
        # two teachers use the right key; the third's is refused, and the simulator echoes it back in its
        # 401 body like a careless server, so redaction of provider errors is exercised too
        teachers = [
            t.model_copy(
                update={"api_key_env": "FAIR_TEST_WRONG_KEY" if t.name == "mix" else "FAIR_TEST_SECRET_KEY"}
            )
            for t in effective.teachers
        ]
        summaries = fair_pipeline(effective.model_copy(update={"teachers": teachers}))
    assert summaries[0]["teacher_calls"] > 0 and summaries[0]["accepted_mix"] == 0
    assert any("teacher 'mix'" in r.getMessage() for r in caplog.records)
    for key in (SECRET, WRONG):
        assert key not in caplog.text
    data_dir = Path(config.run.data_dir)
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.suffix == ".sqlite" for p in files)
    for path in files:
        content = path.read_bytes()
        assert SECRET.encode() not in content and WRONG.encode() not in content, f"a key leaked into {path}"
    records = asyncio.run(_server_records())
    assert "FAIR_TEST_SECRET_KEY" in records  # the variable's *name* is a parameter, its value is not
    assert SECRET not in records and WRONG not in records
