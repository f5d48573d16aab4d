"""An SDK client per event loop: made on first use in each loop, forgotten by `release`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

C = TypeVar("C")


class LoopClient(Generic[C]):
    """The client of the running event loop, made by `make` the first time a loop asks (its connections
    belong to that loop, so a provider survives `asyncio.run` being called again)."""

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._client: C | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> C:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._make(), loop
        return self._client

    def release(self) -> tuple[C | None, bool]:
        """Forget the current client; returns it (None if there is none) and whether it belongs to the
        running loop (only then can its connections be closed from here)."""
        client, loop = self._client, self._loop
        self._client, self._loop = None, None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        return client, client is not None and running is loop
