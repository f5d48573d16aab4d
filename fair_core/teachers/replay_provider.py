"""The replay teacher (`provider: replay`): a teacher's planned calls answered from its recording, with no
network, no API key and no cost; a call the recording does not have gets an `error` reply saying so.

`TeacherCaller.call` hands a replay teacher's calls here (`replay_calls`) instead of sending them: the reply
cache is not involved (the recording is the store), so a re-run replays the same replies. Every
`teacher_calls` row has `mode` "replay", `cost_usd` 0, the teacher's provider "replay" and a request key
carrying the recording (`fair_core.identity.teacher_identity`: origin "replay:<hash>"), so a replayed reply
is never taken for a real one; `billed_usd` is what the recorded reply cost when it was obtained (a run's
recording; 0 for the paper code's, which recorded no usage).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fair_core.config import FairConfig, TeacherConfig
from fair_core.store.parquet import RunStore
from fair_core.teachers.base import ChatResponse, ProviderSetupError, TeacherProvider
from fair_core.teachers.calls import CallOutcome, PlannedCall, call_rows
from fair_core.teachers.engine import CallResult
from fair_core.teachers.keys import describe_teacher
from fair_core.teachers.replay import Recorded, ReplayBook, ReplayError, resolve_source
from fair_core.teachers.replay_runs import load_book

logger = logging.getLogger(__name__)

#: The start of the error of a call the recording does not have.
NOT_RECORDED = "not in the recording"


@dataclass
class ReplayOutcome(CallOutcome):
    """A replay teacher's rows: nothing is paid, nothing is retried (a missing reply stays missing)."""

    source: str = ""

    def replayed(self) -> int:
        return sum(r["status"] in ("ok", "refused") for r in self.calls)

    def describe(self) -> str:
        missing = len(self.calls) - self.replayed()
        return (
            f"{self.label}: {len(self.calls)} calls replayed from {self.source}: {self.replayed()} recorded, "
            f"{missing} {NOT_RECORDED} (error rows; the stage goes on without them), $0 paid"
        )

    def check(self) -> None:
        """Never raises: the recording is all there is, a retry would find the same replies."""


def teacher_book(teacher: TeacherConfig, data_dir: str | Path | None) -> ReplayBook:
    """The recording of a replay teacher; ReplayError naming the teacher when it cannot be used."""
    if not teacher.replay_source:
        raise ReplayError(f"teacher {teacher.name!r}: provider replay needs replay_source")
    try:
        book = load_book(resolve_source(teacher.replay_source, data_dir))
    except ReplayError as err:
        raise ReplayError(f"teacher {teacher.name!r}: {err}") from None
    recorded = teacher.replay_teacher or teacher.name
    if recorded not in book.teachers:
        raise ReplayError(
            f"teacher {teacher.name!r}: the recording {book.source} has no teacher {recorded!r} "
            f"(it has {', '.join(book.teachers) or 'none'}): set replay_teacher to one of them"
        )
    return book


def response_for(found: Recorded | str, source: str) -> ChatResponse:
    """The replayed reply, or the `error` reply of a call the recording does not have."""
    if isinstance(found, str):
        return ChatResponse(None, "error", f"{NOT_RECORDED} {source}: {found}", meta={"mode": "replay"})
    return ChatResponse(
        found.text,
        "ok" if found.status == "ok" else "refused",
        None if found.status == "ok" else f"refused in the recording {source}",
        prompt_tokens=found.prompt_tokens,
        completion_tokens=found.completion_tokens,
        finish_reason="replay",
        meta={"mode": "replay", "billed_usd": found.billed_usd, "round": found.round},
    )


def run_questions(data_dir: str | Path | None, run_id: str | None) -> dict[str, str]:
    """Example id -> question text of the replaying run's examples tables ({} before they exist)."""
    if data_dir is None or run_id is None:
        return {}
    store = RunStore(data_dir, run_id)
    found: dict[str, str] = {}
    for k in store.rounds():
        for name in ("examples", "test_examples"):
            if store.round(k).exists(name):
                found.update((str(r["id"]), str(r["question"])) for r in store.round(k).rows(name))
    return found


def replay_calls(
    teacher: TeacherConfig,
    planned: Sequence[PlannedCall],
    label: str,
    data_dir: str | Path | None,
    run_id: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ReplayOutcome:
    """Answer `planned` (input order) from the teacher's recording, as `teacher_calls` rows. A reference
    recording is matched by question text: the example's (from run `run_id`'s examples table) when it is
    there, else the recorded question the call's messages hold first."""
    book = teacher_book(teacher, data_dir)
    recorded = teacher.replay_teacher or teacher.name
    questions = run_questions(data_dir, run_id) if book.kind == "reference" else {}
    results = []
    for call in planned:
        found = book.lookup(call, recorded, teacher.replay_round, questions.get(call.example_id))
        response = response_for(found, book.source)
        results.append(CallResult(call.request, response, cached=False, attempts=0))
    rows = call_rows(planned, results, {teacher.name: None})
    for row, result in zip(rows, results, strict=True):
        row.update(mode="replay", cost_usd=0.0, billed_usd=float(result.response.meta.get("billed_usd", 0.0)))
    outcome = ReplayOutcome(rows, None, label, describe_teacher(teacher), source=book.source)
    if progress is not None:
        progress(len(rows), len(rows), f"{outcome.replayed()} replayed")
    logger.info("%s", outcome.describe())
    return outcome


def replay_teachers(config: FairConfig) -> list[TeacherConfig]:
    return [t for t in config.teachers if t.provider == "replay"]


def check_replay(config: FairConfig) -> None:
    """Before any work: every replay teacher's recording readable and holding its recorded teacher; no
    replay settings on a teacher that would really be sent to its provider; no simulator mixed in."""
    for teacher in config.teachers:
        stray = [f for f in ("replay_source", "replay_teacher", "replay_round") if getattr(teacher, f)]
        if teacher.provider != "replay" and stray:
            raise ReplayError(
                f"teacher {teacher.name!r}: {', '.join(stray)} set but provider is {teacher.provider!r} "
                "(its requests would be sent and paid): set provider: replay, or remove them"
            )
    replayed = replay_teachers(config)
    if replayed and config.simulator.enabled:
        raise ReplayError(
            f"teachers {', '.join(repr(t.name) for t in replayed)} are replayed and simulator.enabled serves "
            "every teacher: turn simulator.enabled off"
        )
    for teacher in replayed:
        teacher_book(teacher, config.run.data_dir)


class _NoNetwork:
    """What `build_provider` gives for a replay teacher: it has no endpoint to send to."""

    def __init__(self, cfg: TeacherConfig) -> None:
        self.name = cfg.name

    async def complete(self, request: object) -> ChatResponse:
        raise ProviderSetupError(
            f"teacher {self.name!r} is replayed (provider replay): its calls are answered by "
            "TeacherCaller from the recording, never sent"
        )

    async def aclose(self) -> None:
        return None


def create_provider(cfg: TeacherConfig, api_key: str) -> TeacherProvider:
    """The provider-module hook (`fair_core.teachers.base.PROVIDER_MODULES`): a replay teacher has no
    network client; `TeacherCaller` answers its calls from the recording."""
    return _NoNetwork(cfg)
