"""The store on object storage: a real S3-compatible server (moto) on 127.0.0.1, the real s3fs client.

Tables and manifests round-trip; concurrent manifest updates from many writers lose nothing (compare-and-
swap on the ETag); a failed write leaves nothing; a model folder is visible only once its marker is up;
a bad data dir is one line naming it; the credentials never appear in what is stored or said."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fair_core.config import ConfigError
from fair_core.store import RunStore, StoreError
from fair_core.store.integrity import model_problem, table_problem
from fair_core.store.location import (
    FOLDER_MARKER,
    LocationError,
    as_path,
    is_remote,
    local_folder,
    upload_folder,
)
from tests.s3 import ACCESS_KEY, SECRET_KEY, S3Server
from tests.tiny import tiny_dataset


def examples(n: int) -> list[dict]:
    return [{"id": f"q{i}", "split": "train", "question": f"{i}+1?", "answer": str(i + 1)} for i in range(n)]


def answers(prefix: str) -> list[dict]:
    return [
        {"example_id": f"{prefix}{i}", "split": "train", "completion": "x", "predicted": "1", "gold": "1"}
        for i in range(2)
    ]


def bucket_of(url: str) -> str:
    return url.removeprefix("s3://").split("/", 1)[0]


def test_tables_manifest_and_config_round_trip_on_s3(s3_server: S3Server, s3_url: str) -> None:
    run = RunStore(s3_url, "run-a")
    store = run.round(0)
    assert is_remote(store.path) and str(store.path) == f"{s3_url}/runs/run-a/round=0"
    info = store.write("examples", examples(3))
    assert info.rows == 3
    assert [(r["id"], r["answer"]) for r in store.rows("examples")] == [("q0", "1"), ("q1", "2"), ("q2", "3")]
    store.record_stage("prepare", inputs={}, outputs=["examples"])
    run.save_config({"run": {"name": "a"}})
    manifest = store.manifest()
    assert manifest["tables"]["examples"]["rows"] == 3
    assert manifest["stages"]["prepare"]["outputs"] == ["examples"]
    assert store.verified_hash("examples") == info.sha256
    assert run.rounds() == [0]
    keys = s3_server.keys(bucket_of(s3_url))
    assert "data/runs/run-a/config.json" in keys
    assert "data/runs/run-a/round=0/manifest.json" in keys
    assert "data/runs/run-a/round=0/examples.parquet" in keys
    assert not any(k.endswith(".tmp") or k.endswith(".lock") for k in keys), keys


def test_partitioned_tables_and_a_changed_object_is_named(s3_server: S3Server, s3_url: str) -> None:
    store = RunStore(s3_url, "run-b").round(1)
    for shard in range(2):
        store.write("student_outputs", answers("ab"[shard]), part=f"shard-{shard}-of-2")
    assert [r["example_id"] for r in store.rows("student_outputs")] == ["a0", "a1", "b0", "b1"]
    key = "data/runs/run-b/round=1/student_outputs/shard-1-of-2.parquet"
    s3_server.client().put_object(Bucket=bucket_of(s3_url), Key=key, Body=b"not parquet")
    problem = table_problem(store, "student_outputs")
    assert problem and "shard-1-of-2" in problem and "truncated or overwritten" in problem
    with pytest.raises(StoreError, match="student_outputs/shard-1-of-2"):
        store.rows_if_present("student_outputs")


def test_concurrent_manifest_updates_lose_nothing(s3_url: str) -> None:
    """8 writers record 3 stages each into one manifest at once: all 24 are there (ETag compare-and-
    swap; a plain read-modify-write loses most of them)."""
    store = RunStore(s3_url, "run-c").round(0)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(3):
                store.record_stage(f"stage-{w}-{i}", inputs={}, outputs=[])
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(store.manifest()["stages"]) == 24
    assert store.count_start("fine-tune") == 1 and store.count_start("fine-tune") == 2


def test_a_failed_write_leaves_nothing(s3_server: S3Server, s3_url: str) -> None:
    store = RunStore(s3_url, "run-d").round(0)
    with pytest.raises(StoreError, match="examples"):
        store.write("examples", [{"id": "q1", "question": ["not", "text"]}])
    assert s3_server.keys(bucket_of(s3_url)) == []
    assert not store.exists("examples")


def test_a_model_folder_is_there_whole_or_not_at_all(s3_url: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAIR_SCRATCH_DIR", str(tmp_path / "scratch"))
    local = tmp_path / "model"
    (local / "sub").mkdir(parents=True)
    (local / "adapter_config.json").write_text("{}")
    (local / "sub" / "weights.bin").write_bytes(b"\0" * 1000)
    remote = as_path(s3_url) / "runs" / "run-e" / "round=0" / "student" / "model"
    (remote / "adapter_config.json").write_text("{}")  # a cut-off upload: a file, no marker
    with pytest.raises(LocationError, match="not a complete folder"):
        local_folder(str(remote))
    files = upload_folder(local, remote)
    assert files == {"adapter_config.json": 2, "sub/weights.bin": 1000}
    copy = local_folder(str(remote))
    assert copy.is_relative_to(tmp_path / "scratch")
    assert (copy / "sub" / "weights.bin").read_bytes() == b"\0" * 1000
    assert local_folder(str(remote)) == copy  # downloaded once
    store = RunStore(s3_url, "run-e").round(0)
    store.record_stage(
        "fine-tune",
        inputs={},
        outputs=["student/model"],
        extra={"model": {"path": "student/model", "files": files}},
    )
    assert model_problem(store) is None
    (remote / FOLDER_MARKER).unlink()
    assert "upload never finished" in (model_problem(store) or "")


def test_object_storage_needs_a_shared_cache_and_a_known_scheme(tmp_path: Path) -> None:
    from fair_core.config import parse_config

    teachers = [{"name": "t", "model": "m"}]
    base = {"dataset": tiny_dataset(), "teachers": teachers, "review": {"enabled": False}}
    with pytest.raises(ConfigError, match=r"cannot hold the SQLite reply cache: set cache\.url"):
        parse_config({**base, "run": {"data_dir": "s3://bucket/data"}})
    with pytest.raises(ConfigError, match="unknown storage scheme"):
        parse_config({**base, "run": {"data_dir": "ftp://host/data"}})
    config = parse_config(
        {**base, "run": {"data_dir": "s3://bucket/data"}, "cache": {"url": str(tmp_path / "c.sqlite")}}
    )
    assert config.run_id() == parse_config(base).run_id()  # where the data is is not what it is


def test_an_unwritable_bucket_is_one_line_without_the_credentials(s3_server: S3Server) -> None:
    from flows.preflight import check_remote_data_dir

    with pytest.raises(ConfigError) as caught:
        check_remote_data_dir("s3://no-such-bucket-fair/data")
    message = str(caught.value)
    assert message.startswith(
        "run.data_dir 's3://no-such-bucket-fair/data': cannot write to the object store"
    )
    assert "\n" not in message and SECRET_KEY not in message and ACCESS_KEY not in message
