"""Storage faults of the reply cache: a full disk stops sending at once; damaged caches are kept aside."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.cache import ReplyStoreError, ResponseCache
from fair_core.teachers.cost import Price
from fair_core.teachers.engine import CallOptions, run_requests
from fair_core.teachers.integrity import ReplyCacheDamaged, check_reply_cache, forget_checked, marker_path
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.sidecar import Sidecar
from tasks.teachers import retry_unless_unavailable
from tests.simulators.fixtures import FakeProvider

PRICE = Price(1000.0, 1000.0)


def _requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest("gpt", "openai", "m", (Message("user", f"question {i}"),), max_tokens=50)
        for i in range(n)
    ]


def _long_reply(request: ChatRequest, attempt: int) -> ChatResponse:
    """About a page of text per reply, so a capped file fills after a few."""
    return ChatResponse("x" * 3000 + request.messages[-1].content, prompt_tokens=100, completion_tokens=50)


def _paid_keys(path: Path, run_id: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [k for (k,) in db.execute("SELECT request_key FROM spend WHERE run_id = ?", (run_id,))]


def _stored_keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {k for (k,) in db.execute("SELECT key FROM responses")}


def _full_cache(path: Path, spare_pages: int) -> ResponseCache:
    with ResponseCache(path) as probe:
        pages = int(probe._pool.connect().execute("PRAGMA page_count").fetchone()[0])
    return ResponseCache(path, max_page_count=pages + spare_pages)


def test_a_full_disk_stops_sending_at_once_and_keeps_spend_with_every_reply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache" / "teacher_responses.sqlite"
    cache = _full_cache(path, spare_pages=4)
    ledger = RunLedger(path, "run-1", budget_usd=100.0)
    provider = FakeProvider(_long_reply)
    requests = _requests(30)
    options = CallOptions(max_concurrency={"gpt": 1}, prices={"gpt": PRICE}, ledger=ledger)
    with caplog.at_level(logging.WARNING), pytest.raises(ReplyStoreError) as failed:
        asyncio.run(run_requests(requests, {"gpt": provider}, cache, options))
    message = str(failed.value)
    assert message.startswith(
        f"reply cache {path}: could not store a teacher reply (database or disk is full)"
    )
    assert message.endswith("free space and rerun: every stored reply is reused")
    assert "1 paid reply could not be kept" in message
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # one message: the error itself
    sent = sum(provider.calls.values())
    stored = _stored_keys(path)
    assert set(provider.calls.values()) == {1} and 1 < sent < len(requests)  # stopped at once
    assert sent == len(stored) + 1  # one reply in flight (concurrency 1) could not be kept, nothing after it
    assert sorted(_paid_keys(path, "run-1")) == sorted(stored)  # a spend row with every stored reply
    cache.close()

    # space freed: the held reply is stored first, then only what is missing is sent; nothing twice
    with ResponseCache(path) as freed:
        again = CallOptions(prices={"gpt": PRICE}, ledger=ledger)
        results = asyncio.run(run_requests(requests, {"gpt": provider}, freed, again))
    assert all(r.response.ok for r in results)
    assert set(provider.calls.values()) == {1} and sum(provider.calls.values()) == len(requests)
    assert sorted(_paid_keys(path, "run-1")) == sorted(r.request.key() for r in results)
    assert Sidecar(path).spent("run-1") == pytest.approx(ledger.total_usd)
    ledger.close()


def test_a_call_on_a_still_full_cache_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    provider = FakeProvider(_long_reply)
    with _full_cache(path, spare_pages=2) as cache:
        with pytest.raises(ReplyStoreError):
            asyncio.run(run_requests(_requests(10), {"gpt": provider}, cache, CallOptions()))
        sent = sum(provider.calls.values())
        other = _requests(20)[10:]  # other requests, another call (another Prefect task) on the same file
        with pytest.raises(ReplyStoreError, match="database or disk is full"):
            asyncio.run(run_requests(other, {"gpt": provider}, cache, CallOptions()))
    assert sum(provider.calls.values()) == sent


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def result(self) -> None:
        raise self.error


def test_storage_faults_are_not_retried_by_prefect(tmp_path: Path) -> None:
    assert not retry_unless_unavailable(
        None, None, _Failed(ReplyStoreError(tmp_path, "database or disk is full"))
    )
    assert not retry_unless_unavailable(None, None, _Failed(ReplyCacheDamaged("damaged")))
    assert retry_unless_unavailable(None, None, _Failed(RuntimeError("a network blip")))


# --- damaged caches ---------------------------------------------------------------------------------------


def _filled(path: Path, run_id: str = "run-1") -> None:
    """A cache with replies and the run's spend, closed (WAL checkpointed into the main file)."""
    provider = FakeProvider(_long_reply)
    ledger = RunLedger(path, run_id, budget_usd=100.0)
    with ResponseCache(path) as cache:
        asyncio.run(
            run_requests(
                _requests(5), {"gpt": provider}, cache, CallOptions(prices={"gpt": PRICE}, ledger=ledger)
            )
        )
    ledger.close()
    forget_checked(path)  # as a new process would: check it again on the next open


def _aside(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if ".damaged-" in p.name)


def test_a_new_cache_gets_a_marker_and_an_old_one_without_marker_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    check_reply_cache(path)
    assert path.is_file() and marker_path(path).is_file()
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY)")
        db.execute("INSERT INTO responses VALUES ('k')")
    check_reply_cache(old)  # a cache from before markers: adopted, not damaged
    assert marker_path(old).is_file() and _stored_keys(old) == {"k"}


@pytest.mark.parametrize("damage", ["garbage header", "corrupt page"])
def test_a_corrupt_cache_is_named_moved_aside_and_never_replaced(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "cache" / "teacher_responses.sqlite"
    _filled(path)
    size = path.stat().st_size
    with path.open("r+b") as f:
        if damage == "garbage header":
            f.write(b"\x00garbage" * 8)
        else:  # scribble over every page but the first: the b-trees are broken
            f.seek(4096)
            f.write(b"\xff\x13" * ((size - 4096) // 2))
    with pytest.raises(ReplyCacheDamaged) as damaged:
        ResponseCache(path)
    message = str(damaged.value)
    assert message.startswith(f"reply cache {path} (cache ") and " is damaged: " in message
    assert "moved aside to" in message and "restore a backup of it to" in message
    assert "run.budget_usd" in message and "\n" not in message
    [kept, *_] = _aside(path)
    assert kept.stat().st_size == size and not path.exists()  # kept as it was, nothing recreated
    with ResponseCache(path) as fresh:  # the rerun the message offers: a fresh cache
        assert len(fresh) == 0


@pytest.mark.parametrize("damage", ["emptied", "deleted", "replaced"])
def test_an_emptied_deleted_or_replaced_cache_is_not_recreated_silently(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "cache" / "teacher_responses.sqlite"
    _filled(path)
    assert Sidecar(path).spent("run-1") > 0
    forget_checked(path)
    if damage == "emptied":
        path.write_bytes(b"")
    elif damage == "deleted":
        path.unlink()
    else:
        other = tmp_path / "other.sqlite"
        check_reply_cache(other)
        path.write_bytes(other.read_bytes())
    expected = {"emptied": "it is empty (0 bytes)", "deleted": "it is missing", "replaced": "it was replaced"}
    with pytest.raises(ReplyCacheDamaged, match=re.escape(expected[damage])):
        RunLedger(path, "run-1", budget_usd=1.0)  # the budget ledger (same file) refuses it too
    assert not marker_path(path).exists() and _aside(path)
    ledger = RunLedger(path, "run-1", budget_usd=1.0)  # rerun: a fresh cache, as the message said
    assert ledger.prior_usd == 0.0
    ledger.close()
