"""A real Prefect server with `fair serve`: a pipeline run through the REST API, the event triggers, a
provider outage resumed without paying twice or training twice, and `deployments/prefect.yaml`."""

from __future__ import annotations

import copy
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fair_core.config import parse_config
from fair_core.store import RunStore
from tests.e2e.helpers import FAIR, fair, write_config
from tests.e2e.prefect_api import Server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _config(server: Server, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(server.config)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return data


@pytest.fixture(scope="module")
def pipeline_run(fair_server: Server) -> dict[str, Any]:
    """One run of the pipeline deployment with the served config's defaults (its student is reused)."""
    return fair_server.wait(fair_server.start("run-pipeline", "fair-pipeline"))


def test_pipeline_deployment_runs_through_the_rest_api(fair_server: Server, pipeline_run: dict) -> None:
    assert pipeline_run["state"]["type"] == "COMPLETED", fair_server.tail()

    config = parse_config(fair_server.config)
    store = RunStore(config.run.data_dir, config.run_id())
    manifest = store.round(0).manifest()
    assert manifest["summary"]["teacher_calls"] > 0
    assert (store.round(0).path / "student" / "model" / "adapter_config.json").is_file()
    key = f"fair-{config.run_id()}-round-0".lower()
    # a form run of the same served config (tests/e2e/test_browser_forms.py) publishes the same keys again
    tables, reports = fair_server.artifacts(key), fair_server.artifacts(f"{key}-report")
    assert tables and reports
    assert all(t["type"] == "table" and "test_accuracy_after" in t["data"] for t in tables)
    assert all(r["type"] == "markdown" and config.run_id() in r["data"] for r in reports)


def test_student_ready_event_starts_a_round_and_chains_the_next(
    fair_server: Server, pipeline_run: dict
) -> None:
    assert pipeline_run["state"]["type"] == "COMPLETED", fair_server.tail()
    served = parse_config(fair_server.config)
    student = RunStore(served.run.data_dir, served.run_id()).round(0).path / "student" / "model"
    assert student.is_dir()
    chained = _config(fair_server, run__name="chained", run__rounds=3)
    config_path = write_config(fair_server.root / "chained.yaml", chained)
    before = {r["id"] for r in fair_server.runs_of("run-round", "fair-round")}

    args = ["student-ready", "--config", str(config_path), "--model", str(student), "--round", "1", "--chain"]
    result = fair(args, fair_server.env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "emitted fair.student.ready" in result.stdout + result.stderr

    config = parse_config(chained)
    store = RunStore(config.run.data_dir, config.run_id())
    deadline = time.monotonic() + 900
    while not store.round(2).manifest().get("summary"):  # round 1 from the event, round 2 by the chain
        assert time.monotonic() < deadline, fair_server.tail()
        time.sleep(2)
    runs = [r for r in fair_server.runs_of("run-round", "fair-round") if r["id"] not in before]
    for run in runs:
        assert fair_server.wait(run["id"], 300)["state"]["type"] == "COMPLETED", fair_server.tail()
    assert sorted(r["parameters"]["round_index"] for r in runs) == [1, 2]
    first = next(r for r in runs if r["parameters"]["round_index"] == 1)
    assert first["parameters"]["student_path"] == str(student.resolve())
    assert not store.round(0).path.exists()  # round 1 started from the registered student
    assert store.round(2).manifest()["summary"]["test_accuracy_before"] is not None


def _spend(data_dir: str, run_id: str) -> list[tuple[str, str, float]]:
    """The run's paid replies (teacher, request key, USD), as the budget ledger recorded them."""
    with sqlite3.connect(Path(data_dir) / "cache" / "teacher_responses.sqlite") as db:
        query = "SELECT teacher, request_key, cost_usd FROM spend WHERE run_id = ?"
        return db.execute(query, (run_id,)).fetchall()


def test_provider_outage_fails_the_run_and_a_retry_pays_nothing_twice(fair_server: Server) -> None:
    data = _config(fair_server, run__name="outage", simulator__fail_teacher="gemini")
    data["dataset"]["gym"]["options"]["max_digits"] = 2  # questions no earlier test has cached replies for
    config = parse_config(data)
    flow_run = fair_server.start("run-pipeline", "fair-pipeline", {"config": data})
    failed = fair_server.wait(flow_run)
    assert failed["state"]["type"] == "FAILED", fair_server.tail()
    store = RunStore(config.run.data_dir, config.run_id())
    first = _spend(config.run.data_dir, config.run_id())
    assert {t for t, _, _ in first} == {"gpt", "mixtral"}  # gemini answered nothing but 500s
    assert "starts" not in store.round(0).manifest()  # it failed before training

    # what the UI's Retry button does: the same flow run, scheduled again
    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True}
    fair_server.post(f"/flow_runs/{flow_run}/set_state", retry)
    resumed = fair_server.wait(flow_run)
    assert resumed["state"]["type"] == "COMPLETED", fair_server.tail()
    assert resumed["run_count"] >= 2

    spend = _spend(config.run.data_dir, config.run_id())
    keys = [k for _, k, _ in spend]
    assert len(keys) == len(set(keys)), "a paid teacher call was made twice"
    assert set(first) <= set(spend) and {t for t, _, _ in spend} == {"gpt", "gemini", "mixtral"}
    calls = store.round(0).rows("teacher_calls")
    assert all(c["status"] == "ok" for c in calls)
    # every call of the round was paid exactly once: the first attempt's in its tasks' results (Prefect's
    # cache), the rest by the retry; nothing was bought twice
    assert {c["request_key"] for c in calls if c["cost_usd"] > 0} == set(keys)
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(sum(cost for _, _, cost in spend))
    assert store.round(0).manifest()["starts"] == {"fine-tune": 1}


def test_prefect_yaml_deploys_every_deployment(fair_server: Server) -> None:
    """`prefect deploy --all` with deployments/prefect.yaml registers the nine deployments on a work pool."""
    env = dict(fair_server.env, FAIR_HOME=str(ROOT))
    prefect = str(Path(sys.executable).with_name("prefect"))
    subprocess.run(
        [prefect, "work-pool", "create", "fair-process", "--type", "process", "--overwrite"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    result = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pooled = fair_server.post("/deployments/filter", {"work_pools": {"name": {"any_": ["fair-process"]}}})
    names = sorted(d["name"] for d in pooled)
    stages = ["student-inference", "teacher-committee", "training", "evaluation"]
    assert names == sorted(["run", "demo", "pipeline", "round", *stages, "sweep"])
    sweep = next(d for d in pooled if d["name"] == "sweep")
    assert sweep["parameters"]["sweep"] == {"ablation": "paper"}
    round_deployment = next(d for d in pooled if d["name"] == "round")
    assert parse_config(round_deployment["parameters"]["config"]).run.name == "current-svamp"  # not simulated


def test_fair_up_starts_the_server_and_the_deployments_in_one_command(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    from flows.serving import free_port

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(cli_env, PREFECT_HOME=str(tmp_path / "home"))
    with (tmp_path / "up.log").open("wb") as log:
        process = subprocess.Popen(
            [FAIR, "up", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            server = Server(api, env, tmp_path, {}, tmp_path, [tmp_path / "up.log"])
            deadline = time.monotonic() + 300
            while True:
                assert process.poll() is None, server.tail()
                assert time.monotonic() < deadline, server.tail()
                try:
                    if len(server.post("/deployments/filter", {})) == 9:
                        break
                except httpx.HTTPError:
                    pass  # not up yet
                time.sleep(1)
            round_deployment = server.deployment("run-round", "fair-round")
            config = parse_config(round_deployment["parameters"]["config"])
            assert config.run.name == "current-svamp" and not config.simulator.enabled
            assert server.deployment("run-fair", "fair-demo")["parameters"] == {"preset": "demo"}
        finally:
            process.terminate()
            process.wait(timeout=60)
    with pytest.raises(httpx.HTTPError):  # Ctrl-C / SIGTERM stops the server too
        httpx.get(f"{api}/health", timeout=5)
    assert "Prefect UI: http://127.0.0.1:" in (tmp_path / "up.log").read_text()
