"""A whole round with `run.data_dir` on object storage (moto's S3 server on 127.0.0.1, the real s3fs) and the
reply cache on PostgreSQL: every table, manifest, model folder and Prefect result is in the bucket,
nothing is written under a local data dir, and a second worker (a fresh scratch folder) re-running the
round takes every stage from the bucket and pays for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.store import RunStore
from fair_core.store.location import FOLDER_MARKER
from flows.pipeline import fair_pipeline
from flows.simulation import simulated_teachers
from tests.s3 import ACCESS_KEY, SECRET_KEY, S3Server

pytestmark = pytest.mark.slow


def test_a_round_on_object_storage_writes_nothing_locally_and_reruns_from_the_bucket(
    tiny_config, s3_server: S3Server, s3_url: str, postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAIR_SCRATCH_DIR", str(tmp_path / "worker-1"))
    monkeypatch.chdir(tmp_path)
    config = tiny_config(run={"data_dir": s3_url}, cache={"url": postgres_url})
    with simulated_teachers(config) as (effective, simulator):
        first = fair_pipeline(effective)
        sent = simulator.stats["requests"]
        monkeypatch.setenv("FAIR_SCRATCH_DIR", str(tmp_path / "worker-2"))  # another machine
        again = fair_pipeline(effective)
        assert simulator.stats["requests"] == sent
    assert sent > 0 and first[0]["requests_sent"] > 0
    paid = ("requests_sent", "from_cache")  # a re-run stage answered by the shared cache counts its hits
    same = [{k: v for k, v in r.items() if k not in paid} for r in (*first, *again)]
    assert same[: len(first)] == same[len(first) :], "the second worker's round equals the first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker-1", "worker-2"], "nothing under a data dir"

    bucket = s3_url.removeprefix("s3://").split("/", 1)[0]
    prefix = f"data/runs/{config.run_id()}/"
    keys = [k.removeprefix(prefix) for k in s3_server.keys(bucket, prefix)]
    store = RunStore(s3_url, config.run_id()).round(0)
    manifest = store.manifest()
    for name, entry in manifest["tables"].items():
        assert f"round=0/{entry['file']}" in keys, name
    for table in ("examples", "student_outputs", "mistakes", "teacher_calls", "acceptance", "evaluation"):
        assert store.rows(table), table
    assert f"round=0/student/model/{FOLDER_MARKER}" in keys
    assert "round=0/student/model/adapter_config.json" in keys
    assert any(k.startswith("prefect-results/") for k in keys)
    assert "config.json" in keys and "report.html" in keys
    assert manifest["starts"]["fine-tune"] == 1, "the second worker took the trained student from the bucket"
    for key in keys:
        body = s3_server.client().get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
        assert SECRET_KEY.encode() not in body and ACCESS_KEY.encode() not in body, key
