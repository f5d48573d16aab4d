"""The SQLite response cache: round trip, WAL mode, reopen, concurrent writers, what is (not) stored."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fair_core.records import Message
from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.cache import ResponseCache


def _request(i: int, teacher: str = "gpt") -> ChatRequest:
    return ChatRequest(teacher, "openai", "gpt-3.5-turbo", (Message("user", f"question {i}"),))


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    reply = ChatResponse("The answer is 4.", prompt_tokens=5, completion_tokens=4, finish_reason="stop")
    with ResponseCache(path) as cache:
        assert cache.journal_mode() == "wal"
        assert cache.get(_request(1).key()) is None
        assert cache.put(_request(1), reply)
        assert cache.put(_request(2), ChatResponse(None, status="refused", error="content filter"))
        assert not cache.put(_request(3), ChatResponse.failure("error", "HTTP 500"))
        assert not cache.put(_request(4), ChatResponse.failure("fatal", "HTTP 401"))
        assert cache.get(_request(1).key()) == reply
    with ResponseCache(path) as reopened:
        keys = [_request(i).key() for i in range(1, 5)]
        found = reopened.get_many(keys)
        assert set(found) == set(keys[:2])
        assert found[keys[1]].status == "refused"
        # the key ignores the teacher name: another teacher with the same identity reuses the reply
        assert reopened.get(_request(1, teacher="renamed").key()) == reply
        stats = reopened.stats()
        assert stats["entries"] == 2
        assert stats["by_status"] == {"ok": 1, "refused": 1}
        assert stats["by_model"] == {"openai/gpt-3.5-turbo": 2}
    row = sqlite3.connect(path).execute("SELECT provider, model, request FROM responses LIMIT 1").fetchone()
    assert row[0] == "openai" and "question" in row[2]


def test_put_overwrites(cache: ResponseCache) -> None:
    cache.put(_request(1), ChatResponse("old"))
    cache.put(_request(1), ChatResponse("new"))
    assert cache.get(_request(1).key()).text == "new"
    assert len(cache) == 1


def test_thread_safe_puts_and_many_keys(cache: ResponseCache) -> None:
    def writer(offset: int) -> int:
        """Each thread writes 150 replies and reads each back; returns how many it found."""
        seen = 0
        for i in range(offset, offset + 150):
            cache.put(_request(i), ChatResponse(f"reply {i}"))
            seen += cache.get(_request(i).key()) is not None
        return seen

    with ThreadPoolExecutor(max_workers=8) as pool:  # result() re-raises a thread's exception here
        assert [f.result() for f in [pool.submit(writer, k * 1000) for k in range(8)]] == [150] * 8
    keys = [_request(k * 1000 + i).key() for k in range(8) for i in range(150)]
    found = cache.get_many(keys)  # more keys than one SELECT takes
    assert len(found) == 1200 == len(cache)
    assert found[_request(7149).key()].text == "reply 7149"


def test_second_process_sees_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    first, second = ResponseCache(path), ResponseCache(path)  # two connections, as two processes would have
    first.put(_request(1), ChatResponse("one"))
    assert second.get(_request(1).key()).text == "one"
    second.put(_request(2), ChatResponse("two"))
    assert first.get(_request(2).key()).text == "two"
    first.close()
    second.close()
