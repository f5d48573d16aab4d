"""Progress reporting for long stages: one process-wide sink (CLI bar, Prefect artifact, or nothing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class ProgressSink(Protocol):
    """Receives progress of named stages; `info` carries extras such as cache hits or errors."""

    def start(self, stage: str, total: int) -> None: ...

    def update(self, stage: str, done: int, total: int, info: str = "") -> None: ...

    def finish(self, stage: str) -> None: ...


class NullSink:
    def start(self, stage: str, total: int) -> None:
        pass

    def update(self, stage: str, done: int, total: int, info: str = "") -> None:
        pass

    def finish(self, stage: str) -> None:
        pass


_lock = threading.Lock()
_sink: ProgressSink = NullSink()


def get_sink() -> ProgressSink:
    return _sink


def set_sink(sink: ProgressSink | None) -> ProgressSink:
    """Install a sink for the whole process; returns the previous one."""
    global _sink
    with _lock:
        previous, _sink = _sink, sink or NullSink()
    return previous


@contextmanager
def using_sink(sink: ProgressSink) -> Iterator[ProgressSink]:
    previous = set_sink(sink)
    try:
        yield sink
    finally:
        set_sink(previous)
