"""One request's attempts against one teacher: limits, per-attempt timeout, classified errors, backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace

from fair_core.teachers.base import ChatRequest, ChatResponse, ProviderError, TeacherProvider
from fair_core.teachers.cost import Price, request_token_estimate
from fair_core.teachers.ledger import RunLedger
from fair_core.teachers.runtime import RateLimits
from fair_core.teachers.tracking import Tracker

logger = logging.getLogger("fair_core.teachers.engine")

#: A provider's Retry-After is honoured up to this many seconds.
MAX_RETRY_AFTER_S = 600.0


class TeacherLane:
    """Per-teacher state: provider, limits, timeout, retry budget, pause (Retry-After), fatal stop, price."""

    def __init__(
        self,
        name: str,
        provider: TeacherProvider,
        limits: RateLimits,
        retries: int,
        timeout_s: float | None,
        price: Price | None,
        window: int = 16,
    ) -> None:
        self.name, self.provider, self.limits, self.retries = name, provider, limits, retries
        self.timeout_s, self.price = timeout_s, price
        self.paused_until = 0.0
        self.fatal: str | None = None
        #: Why nothing more may be sent (e.g. replies cannot be stored), checked right before each send.
        self.halted: Callable[[], str | None] = lambda: None
        #: Requests of one engine call between their claim and their stored reply (set by the engine).
        self.window = asyncio.Semaphore(max(1, window))

    def stop(self, request: ChatRequest, error: str) -> None:
        if self.fatal is None:
            self.fatal = (
                f"teacher {self.name!r} ({request.provider}, {request.model}) stopped after a fatal error, "
                f"so its remaining requests were not sent: {error}"
            )
            logger.warning("%s", self.fatal)

    def fatal_response(self) -> ChatResponse:
        return ChatResponse.failure("fatal", self.fatal or f"teacher {self.name!r} stopped")

    async def wait_if_paused(self) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self.paused_until - loop.time()) > 0:
            await asyncio.sleep(delay)

    async def call(self, request: ChatRequest) -> ChatResponse:
        """One attempt, within the per-request timeout (a timeout is retryable)."""
        if self.timeout_s is None:
            return await self.provider.complete(request)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.provider.complete(request)
        except TimeoutError:
            raise ProviderError("retryable", f"no reply within the {self.timeout_s:g}s timeout") from None


def not_sent(reason: str) -> ChatResponse:
    """The reply of a request left unsent because sending stopped (`meta['not_sent']`)."""
    return ChatResponse(text=None, status="error", error=f"not sent: {reason}", meta={"not_sent": True})


def budget_response(ledger: RunLedger) -> ChatResponse:
    """The reply of a request left unsent because the run's budget is reached (`meta['budget']`)."""
    return ChatResponse(text=None, status="error", error=ledger.message(), meta={"budget": True})


async def send_with_retries(
    request: ChatRequest, teacher: TeacherLane, tracker: Tracker, backoff_base: float, backoff_max: float
) -> tuple[ChatResponse, int]:
    """One request to its teacher until a reply, a non-retryable error or the retry budget is spent."""
    attempts = 0
    loop = asyncio.get_running_loop()
    tokens = request_token_estimate(request)
    while True:
        await teacher.wait_if_paused()
        if teacher.fatal:
            return teacher.fatal_response(), attempts
        async with teacher.limits.slot():
            await teacher.wait_if_paused()  # a 429 may have paused the teacher while this one queued
            if teacher.fatal:
                return teacher.fatal_response(), attempts
            if (halt := teacher.halted()) is not None:
                return not_sent(halt), attempts
            await teacher.limits.admit(tokens)  # RPM/TPM: the request leaves right after this
            attempts += 1
            tracker.in_flight += 1
            tracker.sent += 1
            error: ProviderError | None = None
            try:
                response = await teacher.call(request)
            except ProviderError as err:
                error = err
            except Exception as err:  # a provider bug or an unmapped SDK error: report it, don't retry
                error = ProviderError("invalid", f"unexpected {type(err).__name__}: {err}")
            finally:
                tracker.in_flight -= 1
        if error is None:
            if response.status == "fatal":
                teacher.stop(request, response.error or "fatal error")
                return teacher.fatal_response(), attempts
            teacher.limits.record(response.prompt_tokens, response.completion_tokens)
            return replace(response, meta={**response.meta, "mode": "online"}), attempts
        where = f"teacher {teacher.name!r}"
        if error.kind == "refused":
            return ChatResponse(text=None, status="refused", error=error.message), attempts
        if error.kind == "fatal":
            teacher.stop(request, error.message)
            return teacher.fatal_response(), attempts
        if error.kind == "invalid":
            return ChatResponse.failure("error", f"{where}: request rejected: {error.message}"), attempts
        if attempts > teacher.retries:
            message = f"{where}: gave up after {attempts} attempts: {error.message}"
            return ChatResponse.failure("error", message), attempts
        delay = random.uniform(0.0, min(backoff_max, backoff_base * 2 ** (attempts - 1)))
        if error.retry_after is not None:
            wait = min(error.retry_after, MAX_RETRY_AFTER_S)
            teacher.paused_until = max(teacher.paused_until, loop.time() + wait)
            delay = max(delay, wait)
        tracker.retries += 1
        tracker.emit()
        logger.debug("%s: attempt %d failed (%s), retrying in %.2fs", where, attempts, error.message, delay)
        await asyncio.sleep(delay)
