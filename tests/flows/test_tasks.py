"""Task bodies through `task.fn()` and the content-hash cache keys every task uses."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from fair_core.config import DatasetConfig, ReviewConfig, TeacherConfig
from fair_core.refs import RoundRef
from tasks.caching import content_cache_key, fingerprint
from tasks.inference import collect_mistakes, prepare_examples
from tasks.review import select

GYM = DatasetConfig(name="reasoning_gym", gym={"task": "chain_sum", "train_size": 5, "test_size": 2})


def _key(name: str, **parameters: object) -> str:
    return content_cache_key(SimpleNamespace(task=SimpleNamespace(name=name)), parameters)


def test_cache_keys_follow_content_not_location(tmp_path: Path) -> None:
    a = RoundRef(str(tmp_path / "a"), "run", 0)
    b = RoundRef(str(tmp_path / "b"), "run", 0)
    table_a = prepare_examples.fn(GYM, "train", a, "examples")
    table_b = prepare_examples.fn(GYM, "train", b, "examples")
    assert _key("t", examples=table_a) == _key("t", examples=table_b)  # same content, other data_dir
    other = prepare_examples.fn(GYM.model_copy(update={"train_limit": 3}), "train", b, "examples")
    assert _key("t", examples=table_a) != _key("t", examples=other)  # content changed
    assert _key("t", examples=table_a) != _key("u", examples=table_a)  # another task
    assert _key("t", where=a) != _key("t", where=RoundRef(a.data_dir, "run", 1))  # another round


def test_teacher_fingerprint_ignores_endpoint_and_limits() -> None:
    t = TeacherConfig(name="gpt", model="gpt-4o-mini")
    moved = t.model_copy(
        update={"base_url": "http://127.0.0.1:1/v1", "max_concurrency": 3, "api_key_env": "X"}
    )
    assert fingerprint(t) == fingerprint(moved)
    assert fingerprint(t) != fingerprint(t.model_copy(update={"temperature": 0.1}))


def test_examples_and_mistakes_tasks(tmp_path: Path) -> None:
    where = RoundRef(str(tmp_path), "run", 0)
    examples = prepare_examples.fn(GYM, "train", where, "examples")
    rows = examples.rows()
    assert len(rows) == 5 and all(r["split"] == "train" and r["kind"] == "numeric" for r in rows)
    outputs = [
        {
            "example_id": r["id"],
            "split": "train",
            "model": "m",
            "prompt": "p",
            "completion": c,
            "completion_tokens": 3,
            "predicted": p,
            "gold": r["answer"],
            "correct": ok,
        }
        for r, (c, p, ok) in zip(rows, [("x", None, False), ("y", "1", True)] * 3, strict=False)
    ]
    where.store().write("student_outputs", outputs)
    mistakes = collect_mistakes.fn(where.table("student_outputs"), where).rows()
    assert [m["example_id"] for m in mistakes] == [rows[0]["id"], rows[2]["id"], rows[4]["id"]]


def test_select_task_writes_reviews_and_acceptance(tmp_path: Path) -> None:
    where = RoundRef(str(tmp_path), "run", 0)
    store = where.store()
    store.write(
        "rationales",
        [
            {
                "example_id": "e",
                "teacher": "a",
                "status": "ok",
                "text": "r. The answer is 2.",
                "predicted": "2",
                "gold_ok": True,
            }
        ],
    )
    call = {
        "request_key": "k",
        "teacher": "b",
        "role": "review",
        "example_id": "e",
        "target": "a",
        "provider": "openai",
        "model": "m",
        "status": "ok",
        "text": "Sound. [5]",
        "error": None,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "latency_s": 0.0,
        "cached": False,
        "attempts": 1,
    }
    store.write("teacher_calls", [call], part="review-b")
    reviews, acceptance = select.fn(
        ReviewConfig(), where.table("rationales"), [where.table("teacher_calls", "review-b")], where
    )
    assert reviews.rows()[0]["score"] == 5
    assert acceptance.rows()[0]["accepted"] is True
