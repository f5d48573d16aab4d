"""Shared pieces of the Gemini tests: keys, teacher configs, running the engine, checking no key leaked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from fair_core.committee import PlannedCall, call_rows
from fair_core.config import TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.records import Example
from fair_core.store.parquet import RoundStore
from fair_core.teachers.base import ChatRequest, TeacherProvider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.engine import CallResult, run_requests

KEY = "AIzaSy-gemini-correct-key-0123456789"
WRONG_KEY = "AIzaSy-gemini-WRONG-key-9876543210"
PROMPTS = PromptSet()


def gemini(name: str, model: str, base_url: str | None = None, **extra: Any) -> TeacherConfig:
    return TeacherConfig(name=name, provider="gemini", model=model, base_url=base_url, **extra)


def rationale_requests(cfg: TeacherConfig, examples: Sequence[Example]) -> list[ChatRequest]:
    return [ChatRequest.for_teacher(cfg, PROMPTS.rationale(example)) for example in examples]


def run(
    requests: Sequence[ChatRequest],
    providers: Mapping[str, TeacherProvider],
    cache: ResponseCache,
    **kw: Any,
) -> list[CallResult]:
    """The engine over `requests` with a tiny backoff; providers are closed on the same loop."""

    async def main() -> list[CallResult]:
        try:
            options = {"max_concurrency": {}, "backoff_base": 0.001, "backoff_max": 0.01, **kw}
            return await run_requests(requests, providers, cache, **options)
        finally:
            for provider in providers.values():
                await provider.aclose()

    return asyncio.run(main())


def assert_no_secret(
    secrets: Iterable[str],
    *,
    texts: Iterable[str | None] = (),
    caplog: pytest.LogCaptureFixture | None = None,
    cache: ResponseCache | None = None,
    results: Sequence[CallResult] = (),
    tmp_path: Path | None = None,
) -> None:
    """No key in the given texts, the captured logs, the cache files or the stored `teacher_calls` rows."""
    haystack = [t or "" for t in texts]
    if caplog is not None:
        haystack += [r.getMessage() + str(r.exc_text or "") for r in caplog.records]
    blobs: list[bytes] = []
    if cache is not None:
        cache.close()
        blobs += [p.read_bytes() for p in Path(cache.path).parent.glob(Path(cache.path).name + "*")]
    if results and tmp_path is not None:
        planned = [PlannedCall(r.request, "rationale", f"ex-{i}") for i, r in enumerate(results)]
        store = RoundStore(tmp_path / "run", "run", 0)
        store.write("teacher_calls", call_rows(planned, list(results)), part="gemini")
        haystack.append(str(store.read("teacher_calls").to_pylist()))
    for secret in secrets:
        assert all(secret not in text for text in haystack)
        assert all(secret.encode() not in blob for blob in blobs)
