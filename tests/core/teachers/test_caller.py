"""TeacherCaller against the OpenAI simulator: cache, fatal key, failed requests, budget stop, batch mode."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.caller import (
    CallOutcome,
    PlannedCall,
    TeacherBatchIncomplete,
    TeacherCaller,
    TeacherUnavailable,
    response_cache_path,
)
from fair_core.teachers.ledger import BudgetExceeded
from fair_core.teachers.simulator import start_simulator
from tests.simulators.fixtures import EXAMPLES, teacher

try:
    from fair_core.teachers.simulator.protocol import SimFault
except ImportError:  # before the simulator split
    from fair_core.teachers.simulator.server import SimFault  # type: ignore[no-redef]

KEY = "sk-caller-key-0123456789abcdef"
PROMPTS = PromptSet()
SIM = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)


class Faults:
    """Counts the calls per wire; questions about the penguin fail with a 500 when `penguin_fails`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.penguin_fails = False

    def __call__(self, call: Any) -> SimFault | None:
        self.calls[call.wire] += 1
        if self.penguin_fails and "penguin" in call.messages[-1].content:
            return SimFault("server_error", "internal error", 500)
        return None


@pytest.fixture
def sim() -> Iterator[tuple[Any, Faults]]:
    faults = Faults()
    with start_simulator(EXAMPLES, SIM, required_key=KEY, faults=faults) as handle:
        yield handle, faults


def _teacher(url: str, **extra: Any) -> TeacherConfig:
    return teacher("gpt", "m", url, api_key_secret="gpt-key", **extra)


def _planned(cfg: TeacherConfig) -> list[PlannedCall]:
    return [
        PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)), "rationale", e.id) for e in EXAMPLES
    ]


def _caller(cfg: TeacherConfig, data_dir: Path, key: str = KEY, **extra: Any) -> TeacherCaller:
    return TeacherCaller(cfg, data_dir=str(data_dir), run_id="run-1", secret_loader=lambda name: key, **extra)


def test_response_cache_path(tmp_path: Path) -> None:
    assert response_cache_path(tmp_path) == tmp_path / "cache" / "teacher_responses.sqlite"
    assert response_cache_path("~/x").parts[-3:] == ("x", "cache", "teacher_responses.sqlite")


def test_online_calls_then_all_from_cache(sim: tuple[Any, Faults], tmp_path: Path) -> None:
    handle, faults = sim
    cfg = _teacher(handle.base_url)
    seen: list[tuple[int, int, str]] = []
    outcome = _caller(cfg, tmp_path).call(_planned(cfg), "rationale-gpt", lambda *p: seen.append(p))
    outcome.check()
    assert len(outcome.calls) == len(EXAMPLES) and outcome.jobs is None
    assert all(r["status"] == "ok" and r["mode"] == "online" for r in outcome.calls)
    assert seen and seen[-1][:2] == (len(EXAMPLES), len(EXAMPLES))
    assert outcome.describe().startswith(f"rationale-gpt: {len(EXAMPLES)} calls, 0 from cache, statuses ")
    sent = faults.calls["openai"]
    assert sent == len(EXAMPLES)
    again = _caller(cfg, tmp_path).call(_planned(cfg), "rationale-gpt")
    again.check()
    assert faults.calls["openai"] == sent  # nothing sent
    assert all(r["cached"] and r["mode"] == "cache" for r in again.calls)
    assert f"{len(EXAMPLES)} from cache" in again.describe()
    assert response_cache_path(tmp_path).exists()


def test_empty_plan_resolves_no_key(tmp_path: Path) -> None:
    cfg = teacher("gpt", "m", "http://127.0.0.1:9/v1", api_key_secret="gpt-key")
    outcome = TeacherCaller(cfg, data_dir=str(tmp_path), run_id="r").call([], "feedback-gpt")
    assert outcome == CallOutcome([], None, "feedback-gpt", outcome.teacher)
    outcome.check()
    assert outcome.describe() == (
        "feedback-gpt: 0 calls, 0 from cache, statuses {'ok': 0, 'refused': 0, 'error': 0, 'fatal': 0}, "
        "$0.0000 paid (run total $0.0000)"
    )


def test_a_bad_key_makes_the_teacher_unavailable(sim: tuple[Any, Faults], tmp_path: Path) -> None:
    handle, _ = sim
    cfg = _teacher(handle.base_url)
    wrong = "sk-caller-WRONG-key-fedcba9876543210"
    outcome = _caller(cfg, tmp_path, key=wrong).call(_planned(cfg), "rationale-gpt")
    assert all(r["status"] == "fatal" for r in outcome.calls)
    with pytest.raises(TeacherUnavailable, match=r"^teacher 'gpt' \(openai, m\) stopped: .*401") as err:
        outcome.check()
    assert wrong not in str(err.value)


def test_failed_requests_make_the_batch_incomplete(sim: tuple[Any, Faults], tmp_path: Path) -> None:
    handle, faults = sim
    faults.penguin_fails = True
    cfg = _teacher(handle.base_url, max_retries=0)
    outcome = _caller(cfg, tmp_path).call(_planned(cfg), "rationale-gpt")
    with pytest.raises(TeacherBatchIncomplete, match="rationale-gpt: 1 of 6 requests failed after retries"):
        outcome.check()
    faults.penguin_fails = False
    retried = _caller(cfg, tmp_path).call(_planned(cfg), "rationale-gpt")
    retried.check()
    assert sum(not r["cached"] for r in retried.calls) == 1  # only the missing one is sent again


def test_budget_stop_raises_budget_exceeded(sim: tuple[Any, Faults], tmp_path: Path) -> None:
    handle, faults = sim
    cfg = _teacher(handle.base_url, price_input_per_mtok=1000.0, price_output_per_mtok=1000.0)
    outcome = _caller(cfg, tmp_path, budget_usd=1.5).call(_planned(cfg), "rationale-gpt")
    assert any(r["status"] == "ok" for r in outcome.calls) and faults.calls["openai"] < len(EXAMPLES)
    with pytest.raises(BudgetExceeded, match=r"budget of \$1.5 reached after \$.*replies are cached"):
        outcome.check()
    assert outcome.run_total_usd > 0


def _batch_wires() -> tuple[ModuleType, ...]:
    """The OpenAI batch wire and chat wire, wherever the simulator keeps them (skip when absent)."""
    for name in ("tests.simulators.openai_batch_wire", "fair_core.teachers.simulator.openai_batch_wire"):
        try:
            batch_wire = importlib.import_module(name)
        except ImportError:
            continue
        chat_wire = importlib.import_module("fair_core.teachers.simulator.openai_wire")
        return batch_wire, chat_wire
    pytest.skip("no OpenAI batch simulator wire")


def test_batch_mode_records_jobs_and_caches(tmp_path: Path) -> None:
    batch_wire, chat_wire = _batch_wires()
    faults = Faults()
    extra: dict[str, Any] = {}
    if "wires" in start_simulator.__code__.co_varnames:  # the simulator serves only the wires it is given
        extra["wires"] = (batch_wire, chat_wire)
    with start_simulator(EXAMPLES, SIM, required_key=KEY, faults=faults, **extra) as handle:
        cfg = _teacher(handle.base_url, mode="batch", batch_poll_s=0.02, batch_timeout_s=60)
        seen: list[tuple[int, int, str]] = []
        outcome = _caller(cfg, tmp_path).call(_planned(cfg), "rationale-gpt", lambda *p: seen.append(p))
        outcome.check()
        assert outcome.jobs and outcome.jobs[0]["state"] == "completed"
        assert outcome.jobs[0]["n_requests"] == len(EXAMPLES) and outcome.jobs[0]["teacher"] == "gpt"
        assert all(r["mode"] == "batch" for r in outcome.calls) and faults.calls["openai"] == 0
        assert seen
        again = _caller(cfg, tmp_path).call(_planned(cfg), "rationale-gpt")
        assert all(r["mode"] == "cache" for r in again.calls) and again.jobs == []
