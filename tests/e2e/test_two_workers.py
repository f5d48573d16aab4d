"""Two Prefect process workers on this machine standing for two machines: a run split over two work pools.

The Prefect server runs on PostgreSQL; `deployments/pools.yaml` is deployed as the README says; one worker
serves `fair-cpu` (the teacher committee), the other `fair-gpu` (student inference, training, evaluation).
Each has its own working directory, `PREFECT_HOME` and scratch folder: they share only the server, the
object store (moto's S3 on 127.0.0.1) and the PostgreSQL reply cache. `fair run` starts the round, which
hands each stage to its pool. The run completes with every table in the bucket and nothing under any
`data/`; each stage ran on its pool's worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from fair_core.config import parse_config
from fair_core.store import RunStore
from tests.e2e.helpers import FAIR, stop_group, write_config
from tests.e2e.prefect_api import Server
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


def prefect(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run([PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@contextmanager
def worker(pool: str, home: Path, env: dict[str, str]) -> Iterator[Path]:
    """`prefect worker start --pool POOL` in its own folder, PREFECT_HOME and scratch folder."""
    home.mkdir(parents=True)
    env = dict(env, PREFECT_HOME=str(home / "prefect"), FAIR_SCRATCH_DIR=str(home / "scratch"))
    log = (home / "worker.log").open("wb")
    process = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--name", f"{pool}-worker"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield home
    finally:
        stop_group(process)
        log.close()


def test_a_run_split_over_two_pools_keeps_everything_in_the_bucket(
    tmp_path: Path,
    cli_env: dict[str, str],
    s3_server: S3Server,
    s3_url: str,
    postgres_server: object,
    postgres_url: str,
    tiny_model_dir: Path,
) -> None:
    from flows.serving import prefect_server
    from tests.pg import PgServer

    assert isinstance(postgres_server, PgServer)
    server_db = postgres_server.new_database().replace("postgresql://", "postgresql+asyncpg://")
    env = {k: v for k, v in cli_env.items() if not k.startswith("PREFECT_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", FAIR_HOME=str(ROOT), FAIR_SIMULATOR_API_KEY="sim")
    with ExitStack() as stack:
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
        cpu = stack.enter_context(worker("fair-cpu", tmp_path / "machine-cpu", env))
        gpu = stack.enter_context(worker("fair-gpu", tmp_path / "machine-gpu", env))

        data = {
            "run": {"name": "pools", "rounds": 1, "data_dir": s3_url},
            "dataset": tiny_dataset(),
            "student": {"model": str(tiny_model_dir), "max_new_tokens": 8},
            "teachers": [{"name": n, "model": n} for n in ("gpt", "gemini", "mixtral")],
            "training": {
                "learning_rate": 1e-3,
                "epochs": 1,
                "batch_size": 4,
                "grad_accum": 1,
                "max_length": 512,
            },
            "simulator": {"enabled": True},
            "cache": {"url": postgres_url},
            "stages": {"deployments": STAGES},
        }
        starter = tmp_path / "starter"
        starter.mkdir()
        config = write_config(starter / "pools.yaml", data)
        run_env = dict(env, PREFECT_HOME=str(starter / "prefect"), FAIR_SCRATCH_DIR=str(starter / "scratch"))
        done = subprocess.run(
            [FAIR, "run", "--config", str(config)],
            env=run_env,
            cwd=starter,
            capture_output=True,
            text=True,
            timeout=900,
        )
        logs = "\n".join((m / "worker.log").read_text(errors="replace") for m in (cpu, gpu))
        assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}\n{logs[-6000:]}"

        server = Server(api, env, config, data, tmp_path, [tmp_path / "server.log"])
        runs = server.post("/flow_runs/filter", {})
        pools = {r["name"]: r.get("work_pool_name") for r in runs}
        by_flow: dict[str, set[str | None]] = {}
        flows = {f["id"]: f["name"] for f in server.post("/flows/filter", {})}
        for run in runs:
            by_flow.setdefault(flows[run["flow_id"]], set()).add(run.get("work_pool_name"))
            assert run["state_type"] == "COMPLETED", (run["name"], run["state_name"])
        assert by_flow["stage-teacher-committee"] == {"fair-cpu"}, pools
        blocks = server.post("/block_documents/filter", {"include_secrets": True})
        assert any(b["name"].startswith("fair-results-") for b in blocks), "results on the object store"
        said = (
            json.dumps([runs, blocks])
            + (tmp_path / "server.log").read_text(errors="replace")
            + logs
            + done.stdout
        )
        assert SECRET_KEY not in said and ACCESS_KEY not in said, "storage credentials reached the server"
        for stage in ("stage-student-inference", "stage-training", "stage-evaluation"):
            assert by_flow[stage] == {"fair-gpu"}, pools

    run_id = parse_config(data).run_id()
    store = RunStore(s3_url, run_id).round(0)
    for name, entry in store.manifest()["tables"].items():
        assert (store.path / entry["file"]).is_file(), name
    assert store.rows("evaluation") and store.rows("acceptance")
    for folder in (cpu, gpu, starter, ROOT):
        assert not (folder / "data" / "runs" / run_id).exists(), folder
    assert not list(cpu.glob("scratch/training/*")), "the CPU worker trained nothing"
    assert list(gpu.glob("scratch/training/*")), "the GPU worker trained the student"
