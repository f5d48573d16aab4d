"""The budget stop's message counts the run's replies truly, also those in flight in other tasks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts.builder import PromptSet
from fair_core.teachers.base import ChatRequest
from fair_core.teachers.caller import CallOutcome, PlannedCall, TeacherCaller
from fair_core.teachers.cost import max_request_cost, price_for
from fair_core.teachers.ledger import BudgetExceeded
from fair_core.teachers.simulator import start_simulator
from tests.simulators.fixtures import EXAMPLES, teacher

KEY = "sk-budget-key-0123456789abcdef"
PROMPTS = PromptSet()


def _caller(cfg: TeacherConfig, data_dir: Path, budget: float) -> TeacherCaller:
    return TeacherCaller(
        cfg, data_dir=str(data_dir), run_id="run-b", budget_usd=budget, secret_loader=lambda name: KEY
    )


def test_the_budget_stop_counts_the_replies_of_tasks_still_in_flight(tmp_path: Path) -> None:
    sim = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0, latency_ms=1000.0)
    with start_simulator(EXAMPLES, sim, required_key=KEY) as handle:
        cfg = teacher(
            "gpt",
            "m",
            handle.base_url,
            api_key_secret="gpt-key",
            price_input_per_mtok=1000.0,
            price_output_per_mtok=1000.0,
        )
        rationales = [
            PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(e)), "rationale", e.id)
            for e in EXAMPLES
        ]
        reviews = [  # another task of the run (other requests), started while the first is in flight
            PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(e), sample=1), "rationale", e.id)
            for e in EXAMPLES
        ]
        price = price_for(cfg)
        budget = sum(max_request_cost(price, p.request) for p in rationales) * 1.001  # exactly the first task
        outcomes: list[CallOutcome] = []
        first = threading.Thread(
            target=lambda: outcomes.append(_caller(cfg, tmp_path, budget).call(rationales, "rationale-gpt"))
        )
        first.start()
        time.sleep(0.3)  # its requests are reserved and in flight (1 s each)
        second = _caller(cfg, tmp_path, budget).call(reviews, "rationale-gpt-1")
        first.join(60)
    [done] = outcomes
    assert all(r["status"] == "ok" for r in done.calls) and done.budget_stop is None
    with pytest.raises(BudgetExceeded) as stopped:
        second.check()
    assert "; 6 paid replies are cached; raise run.budget_usd and rerun to continue" in str(stopped.value)
