"""Keeping paid replies: reply, spend row and claim release in one write; a reply not kept stops sending.

When a reply cannot be stored (disk full, quota, I/O error) its cache path is marked as failing for the
process: every engine call on that path stops sending (nothing is sent that cannot be kept) and the
replies that could not be kept are held in memory. A later call on that path first tries to store them
again; only when that works does it send anything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from fair_core.teachers.attempts import not_sent
from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.cache import CACHEABLE, ReplyStoreError, ResponseCache
from fair_core.teachers.claims import Owner
from fair_core.teachers.db import database_errors
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.sidecar import SpendRow

#: Unkept replies held per cache path (the oldest are dropped beyond this).
MAX_HELD = 10_000


@dataclass(frozen=True)
class Unkept:
    """A paid reply that could not be stored, with its spend row."""

    request: ChatRequest
    response: ChatResponse
    spend: SpendRow | None
    ledger: RunLedger | None


_lock = threading.Lock()
_failing: dict[str, tuple[str, list[Unkept]]] = {}


def _key(where: Path | str) -> str:
    """A cache's identity: its absolute file path, or its URL without the password (`location`)."""
    return where if isinstance(where, str) else str(Path(where).absolute())


def keep(
    cache: ResponseCache,
    ledger: RunLedger | None,
    request: ChatRequest,
    response: ChatResponse,
    spend: SpendRow | None,
    owner: Owner | None = None,
) -> None:
    """Store a reply with its spend row (one transaction when the ledger lives in the cache's database;
    else the spend first) and release its claim. Raises `ReplyStoreError`, having written nothing of it."""
    same_file = ledger is None or ledger.location is None or ledger.location == cache.location
    if spend is not None and not same_file and ledger is not None:
        try:
            ledger.persist_row(spend)
        except database_errors() as err:
            raise ReplyStoreError(ledger.location or cache.location, str(err)) from None
        spend = None
    if response.status not in CACHEABLE and spend is None:
        if owner is not None:
            cache.claims.release(request.key(), owner)
        return
    cache.store(request, response, spend, owner)


def failing(path: Path | str) -> str | None:
    """The cause of the last failed store on `path` while it is failing (else None)."""
    with _lock:
        found = _failing.get(_key(path))
    return found[0] if found else None


def hold(path: Path | str, cause: str, unkept: Unkept | None) -> None:
    """Mark `path` as failing and hold a reply that could not be kept."""
    with _lock:
        held = _failing.get(_key(path), (cause, []))[1]
        _failing[_key(path)] = (cause, held)
        if unkept is not None:
            held.append(unkept)
            del held[:-MAX_HELD]


def retry_held(cache: ResponseCache) -> None:
    """Store the replies held for the cache's path; clear its failing mark when they all fit. Raises
    `ReplyStoreError` (the mark stays) when the file still cannot take them."""
    with _lock:
        cause, held = _failing.get(_key(cache.location), ("", []))
    if not cause:
        return
    for index, unkept in enumerate(list(held)):
        try:
            keep(cache, unkept.ledger, unkept.request, unkept.response, unkept.spend)
        except ReplyStoreError as err:
            with _lock:
                del held[:index]
            raise ReplyStoreError(cache.path, err.cause, len(held)) from None
    with _lock:
        _failing.pop(_key(cache.location), None)


class StoreStop:
    """An engine call's view of store failures on its cache path (its own or another call's): once there
    is one, nothing more is sent; `error()` is what the call raises."""

    def __init__(self, cache: ResponseCache) -> None:
        self.cache, self.cause, self.unkept, self.skipped = cache, failing(cache.location), 0, 0

    @property
    def stopped(self) -> bool:
        self.cause = self.cause or failing(self.cache.location)
        return self.cause is not None

    def fail(self, cause: str, unkept: Unkept | None = None) -> None:
        self.cause = self.cause or cause
        self.unkept += unkept is not None
        hold(self.cache.location, cause, unkept)

    def reason(self) -> str | None:
        return f"the reply cache cannot store replies ({self.cause})" if self.stopped else None

    def response(self) -> ChatResponse:
        self.skipped += 1
        return not_sent(self.reason() or "")

    def error(self) -> ReplyStoreError:
        return ReplyStoreError(self.cache.path, self.cause or "unknown", self.unkept)
