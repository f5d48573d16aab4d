"""Prefect process workers on this machine standing for three machines: a run split over two work pools,
one of whose workers dies during the teacher committee.

The Prefect server runs on PostgreSQL; `deployments/pools.yaml` and `deployments/crashed-stages.yaml` are
deployed as the README says. Two workers serve `fair-cpu` (the teacher committee), one `fair-gpu` (student
inference, training, evaluation); each has its own working directory, `PREFECT_HOME` and scratch folder:
they share only the server, the object store (moto's S3 on 127.0.0.1) and the PostgreSQL reply cache. The
teachers are a simulator in this test's process, so what they are asked is counted here. `fair run` starts
the round, which hands each stage to its pool. Midway through the committee the worker running it is
killed with everything below it: its flow run is marked Crashed (no heartbeat), the round starts it again
on the other CPU worker, only the requests in flight at the kill are sent again, and every table equals
an uninterrupted run's. Nothing is written under any `data/`; no storage credential reaches the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from fair_core.config import SimulatorConfig, parse_config
from fair_core.store import RunStore
from tests.e2e.helpers import FAIR, descendants, kill_machine, stop_group, write_config
from tests.e2e.prefect_api import Server
from tests.flows.test_pipeline import ROUND_TABLES
from tests.s3 import ACCESS_KEY, SECRET_KEY, S3Server
from tests.tiny import tiny_dataset

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
STAGES = {
    "student-inference": "stage-student-inference/gpu",
    "teacher-committee": "stage-teacher-committee/cpu",
    "training": "stage-training/gpu",
    "evaluation": "stage-evaluation/gpu",
}
#: How a reply was obtained, not what it is: these differ between an interrupted and an uninterrupted run.
PROVENANCE = {"latency_s", "cached", "attempts", "mode", "cost_usd"}


def prefect(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run([PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@contextmanager
def worker(pool: str, home: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`prefect worker start --pool POOL` in its own folder, PREFECT_HOME and scratch folder."""
    home.mkdir(parents=True)
    env = dict(env, PREFECT_HOME=str(home / "prefect"), FAIR_SCRATCH_DIR=str(home / "scratch"))
    log = (home / "worker.log").open("wb")
    process = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--name", home.name],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_group(process)
        log.close()


def stable(rows: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in PROVENANCE} for r in rows), key=repr)


def run_config(data_dir: str, **sections: object) -> dict:
    return {
        "run": {"name": "pools", "rounds": 1, "data_dir": data_dir},
        "dataset": tiny_dataset(),
        "student": {"model": sections.pop("model"), "max_new_tokens": 8},
        # two requests at a time per teacher: the committee lasts long enough to be interrupted
        "teachers": [{"name": n, "model": n, "max_concurrency": 2} for n in ("gpt", "gemini", "mixtral")],
        "training": {"learning_rate": 1e-3, "epochs": 1, "batch_size": 4, "grad_accum": 1, "max_length": 512},
        **sections,
    }


def committee_run(server: Server, state: str) -> dict | None:
    body = {"flows": {"name": {"any_": ["stage-teacher-committee"]}}, "flow_runs": {}}
    runs = [r for r in server.post("/flow_runs/filter", body) if r["state_type"] == state]
    return runs[0] if runs else None


def test_a_run_split_over_two_pools_survives_a_dead_worker_and_keeps_everything_in_the_bucket(
    tmp_path: Path,
    cli_env: dict[str, str],
    s3_server: S3Server,
    s3_url: str,
    postgres_server: object,
    postgres_url: str,
    tiny_model_dir: Path,
) -> None:
    from fair_core.teachers.simulator.server import start_simulator
    from flows.serving import prefect_server
    from flows.simulation import SIMULATOR_KEY_ENV, served_config, simulator_examples
    from tests.pg import PgServer

    assert isinstance(postgres_server, PgServer)
    # the uninterrupted run: the same teachers (a simulator of their own), in one process, on a local
    # folder and its own SQLite cache
    reference_dir = tmp_path / "reference"
    simulated = run_config(str(reference_dir), model=str(tiny_model_dir), simulator={"latency_ms": 0})
    with start_simulator(simulator_examples(parse_config(simulated)), SimulatorConfig()) as teachers:
        reference = served_config(parse_config(simulated), teachers).model_dump(mode="json")
        done = subprocess.run(
            [FAIR, "run", "--config", str(write_config(tmp_path / "reference.yaml", reference))],
            env=dict(cli_env, **{SIMULATOR_KEY_ENV: "sim"}),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    expected = RunStore(str(reference_dir), parse_config(reference).run_id()).round(0)

    server_db = postgres_server.new_database().replace("postgresql://", "postgresql+asyncpg://")
    env = {k: v for k, v in cli_env.items() if not k.startswith("PREFECT_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        FAIR_HOME=str(ROOT),
        **{SIMULATOR_KEY_ENV: "sim"},
    )
    simulated = parse_config(
        run_config(
            s3_url, model=str(tiny_model_dir), simulator={"latency_ms": 1500}, cache={"url": postgres_url}
        )
    )
    with ExitStack() as stack:
        # the teachers: served from here (latency 1.5 s), so every request any worker sends is counted
        simulator = stack.enter_context(start_simulator(simulator_examples(simulated), simulated.simulator))
        data = served_config(simulated, simulator).model_dump(mode="json")
        data.update(cache={"url": postgres_url}, stages={"deployments": STAGES})  # its password: PGPASSWORD
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = server_db  # for `prefect server start`
        try:
            api = stack.enter_context(
                prefect_server(home=tmp_path / "server", log_path=tmp_path / "server.log")
            )
        finally:
            os.environ.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        env["PREFECT_API_URL"] = api
        for pool in ("fair-cpu", "fair-gpu"):
            prefect(["work-pool", "create", pool, "--type", "process"], env, tmp_path)
        prefect(["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/pools.yaml"], env, ROOT)
        prefect(["automation", "create", "--from-file", "deployments/crashed-stages.yaml"], env, ROOT)
        cpus = [stack.enter_context(worker("fair-cpu", tmp_path / f"cpu-{k}", env)) for k in "ab"]
        gpu_home = tmp_path / "gpu"
        stack.enter_context(worker("fair-gpu", gpu_home, env))
        starter = tmp_path / "starter"
        starter.mkdir()
        config = write_config(starter / "pools.yaml", data)
        server = Server(api, env, config, data, tmp_path, [tmp_path / "server.log"])
        run_env = dict(env, PREFECT_HOME=str(starter / "prefect"), FAIR_SCRATCH_DIR=str(starter / "scratch"))
        out = (starter / "fair.log").open("wb")
        run = subprocess.Popen(
            [FAIR, "run", "--config", str(config)], env=run_env, cwd=starter, stdout=out, stderr=out
        )

        # midway through the committee (replies stored, requests in flight): kill the CPU worker running
        # it, and everything below it
        deadline = time.monotonic() + 600
        while not ((first := committee_run(server, "RUNNING")) and first["infrastructure_pid"]):
            assert run.poll() is None and time.monotonic() < deadline, (starter / "fair.log").read_text()
            time.sleep(0.5)
        pid = int(str(first["infrastructure_pid"]).rsplit(":", 1)[-1])
        (dead,) = [w for w in cpus if pid in descendants(w.pid)]
        while not (busy := simulator.stats)["in_flight"] or busy["by_outcome"].get("ok", 0) < 6:
            assert run.poll() is None and time.monotonic() < deadline, (starter / "fair.log").read_text()
            time.sleep(0.05)
        kill_machine(dead)
        lost = simulator.stats["in_flight"]  # sent by the dead worker, their replies never stored
        answered_before = simulator.stats["by_outcome"]["ok"]

        assert run.wait(timeout=900) == 0, (starter / "fair.log").read_text()[-6000:]
        out.close()
        stats = simulator.stats
        runs = server.post("/flow_runs/filter", {})
        logs = "".join(
            (home / "worker.log").read_text(errors="replace")
            for home in (tmp_path / "cpu-a", tmp_path / "cpu-b", gpu_home)
        )
        blocks = server.post("/block_documents/filter", {"include_secrets": True})
        flows = {f["id"]: f["name"] for f in server.post("/flows/filter", {})}
        crashed = server.flow_run(first["id"])
        said = json.dumps([runs, blocks]) + (tmp_path / "server.log").read_text(errors="replace") + logs

    # the dead worker's flow run was marked Crashed by the automation; the round ran it again elsewhere
    assert crashed["state_type"] == "CRASHED" and "heartbeat" in crashed["state"]["message"], crashed
    by_flow: dict[str, list[tuple[str | None, str]]] = {}
    for r in runs:
        by_flow.setdefault(flows[r["flow_id"]], []).append((r.get("work_pool_name"), r["state_type"]))
    committee = sorted(by_flow.pop("stage-teacher-committee"))
    assert committee == [("fair-cpu", "COMPLETED"), ("fair-cpu", "CRASHED")], committee
    # the committee subflow inside the dead flow run: marked Crashed too (it carries the watched tag)
    assert sorted(state for _, state in by_flow.pop("teacher-committee")) == ["COMPLETED", "CRASHED"]
    for stage in ("stage-student-inference", "stage-training", "stage-evaluation"):
        assert {pool for pool, _ in by_flow[stage]} == {"fair-gpu"}, by_flow
    assert {state for states in by_flow.values() for _, state in states} == {"COMPLETED"}, by_flow

    # nothing answered before the kill was paid again; only what was in flight could be
    sent = expected.manifest()["summary"]["requests_sent"]
    print(f"answered before the kill {answered_before}, in flight {lost}, repeated {stats['repeated']}")
    assert stats["repeated"] <= lost, stats
    assert stats["by_outcome"]["ok"] == sent + stats["repeated"], (stats, sent)

    # the same tables as the uninterrupted run, all in the bucket, none under any data/
    run_id = parse_config(data).run_id()
    store = RunStore(s3_url, run_id).round(0)
    for name, entry in store.manifest()["tables"].items():
        assert (store.path / entry["file"]).is_file(), name
    for table in [*ROUND_TABLES, "baseline_evaluation"]:
        assert stable(store.rows(table)) == stable(expected.rows(table)), table
    assert store.rows("evaluation") and store.rows("acceptance")
    for folder in (tmp_path / "cpu-a", tmp_path / "cpu-b", gpu_home, starter, ROOT):
        assert not (folder / "data" / "runs" / run_id).exists(), folder
    assert not list(tmp_path.glob("cpu-*/scratch/training/*")), "a CPU worker trained"
    assert list(gpu_home.glob("scratch/training/*")), "the GPU worker trained the student"
    assert any(b["name"].startswith("fair-results-") for b in blocks), "results on the object store"
    assert SECRET_KEY not in said and ACCESS_KEY not in said, "storage credentials reached the server"
