"""A FAIR round on a local Dask cluster (deployments/run_dask.py): its submitted tasks run in the worker
processes and it writes the same tables as the default runner. Run: pytest tests/flows/test_dask.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fair_core.store import RunStore
from tests.flows.test_pipeline import ROUND_TABLES

pytest.importorskip("prefect_dask")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: The one column that differs between two runs of the same config: a teacher call's wall time.
VOLATILE = {"latency_s"}


def stable(rows: list[dict]) -> list[dict]:
    """The rows without their volatile columns, in a fixed order (shards may finish in any order)."""
    return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in rows), key=repr)


def test_round_on_dask_workers_matches_the_default_runner(tiny_config, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster, get_task_stream

    from deployments.run_dask import dask_runner, run_round_on_dask
    from flows.pipeline import run_pipeline

    config = tiny_config(student={"shards": 2})
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with cluster, Client(cluster) as client:
        worker_pids = client.run(os.getpid)
        with get_task_stream(client) as stream:
            result = run_round_on_dask(config, dask_runner(cluster.scheduler_address), 0)
    assert result.round == 0 and result.summary["test_accuracy_after"] is not None

    # every submitted task (2 student shards per inference stage, the teacher and review batches) ran in
    # a worker process, none in this one
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids.values()
    ran = [(t["key"], t["worker"]) for t in stream.data]
    assert {worker for _, worker in ran} <= set(worker_pids), ran
    names = " ".join(str(key) for key, _ in ran)
    assert len(ran) >= 2 * 2 + 3, ran
    assert "answers" in names and "ask" in names and "review" in names, names

    reference = tiny_config(student={"shards": 2}, run={"data_dir": str(tmp_path / "reference")})
    assert reference.run_id() == config.run_id()
    expected = run_pipeline(reference).summaries[0]
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    same = RunStore(reference.run.data_dir, reference.run_id()).round(0)
    assert store.manifest()["summary"]["mistakes"] == expected["mistakes"]
    for table in [*ROUND_TABLES, "baseline_evaluation"]:
        assert store.exists(table), f"no {table} table after the Dask round"
        assert stable(store.rows(table)) == stable(same.rows(table)), table
    for key in ("mistakes", "rationales_accepted", "test_accuracy_after"):
        assert result.summary[key] == expected[key], key
