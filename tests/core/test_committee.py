"""The committee recipe end to end through the real openai SDK and the local simulator (no Prefect)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.committee import feedback_rows, plan_committee_calls, rationale_rows
from fair_core.config import SimulatorConfig, TeacherConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.review import plan_reviews, review_rows, select_rationales
from fair_core.teachers.base import build_provider
from fair_core.teachers.cache import ResponseCache
from fair_core.teachers.caller import call_rows
from fair_core.teachers.engine import CallOptions, run_requests_sync
from fair_core.teachers.simulator import start_simulator

EXAMPLES = {
    f"q{i}": Example(
        f"q{i}",
        "svamp",
        f"Tom has {i} apples and buys {i + 2} more. How many apples now?",
        str(2 * i + 2),
        solution=f"{i} + {i + 2} = {2 * i + 2}",
    )
    for i in range(1, 9)
}
MISTAKES = [
    {"example_id": e.id, "student_completion": "It is 1.", "student_prediction": "1", "gold": e.answer}
    for e in EXAMPLES.values()
]


def _run(teachers, planned, simulator, cache):
    providers = {
        t.name: build_provider(t.model_copy(update={"base_url": simulator.base_url}), "sk-test-key")
        for t in teachers
    }
    options = CallOptions(max_concurrency={t.name: 4 for t in teachers})
    results = run_requests_sync([p.request for p in planned], providers, cache, options)
    return call_rows(planned, results)


@pytest.fixture()
def committee():
    return [TeacherConfig(name=n, model=m) for n, m in (("gpt", "gpt-x"), ("gem", "gem-y"), ("mix", "mix-z"))]


def test_feedback_rationales_reviews_and_selection(committee, tmp_path: Path) -> None:
    prompts = PromptSet()
    sim_cfg = SimulatorConfig(wrong_rate=0.0, unparseable_rate=0.0)
    with (
        start_simulator(list(EXAMPLES.values()), sim_cfg, wrong_rates={"mix-z": 1.0}) as sim,
        ResponseCache(tmp_path / "cache.sqlite") as cache,
    ):
        planned = [
            p
            for t in committee
            for role in ("feedback", "rationale")
            for p in plan_committee_calls(t, role, EXAMPLES, MISTAKES, prompts)
        ]
        calls = _run(committee, planned, sim, cache)
        assert len(calls) == 3 * 2 * len(MISTAKES) and all(c["status"] == "ok" for c in calls)
        feedback = feedback_rows(calls)
        assert all(EXAMPLES[f["example_id"]].answer in f["text"] for f in feedback)
        rationales = rationale_rows(calls, EXAMPLES)
        assert all(r["gold_ok"] for r in rationales if r["teacher"] != "mix")
        assert not any(r["gold_ok"] for r in rationales if r["teacher"] == "mix")

        reviews_planned = [p for t in committee for p in plan_reviews(t, EXAMPLES, rationales, prompts)]
        assert len(reviews_planned) == 3 * 2 * len(MISTAKES)  # everyone reviews the two others
        assert all(p.target != p.request.teacher for p in reviews_planned)
        reviews = review_rows(_run(committee, reviews_planned, sim, cache))
        assert all(r["valid"] for r in reviews)
        acceptance = select_rationales(rationales, reviews)
        accepted = {a["teacher"] for a in acceptance if a["accepted"]}
        assert accepted == {"gpt", "gem"}  # the always-wrong teacher is rejected by its peers

        sent = sim.stats["requests"]
        again = _run(committee, planned, sim, cache)
        assert sim.stats["requests"] == sent  # all from the cache
        assert [c["text"] for c in again] == [c["text"] for c in calls]
        assert all(c["cached"] for c in again)


def test_solution_hint_reaches_the_feedback_and_review_requests() -> None:
    """`prompts.teacher_hint: solution` (the paper code for GSM8K / StrategyQA): the committee's feedback
    and review requests carry the dataset's worked solution; the rationale requests never see it."""
    teacher = TeacherConfig(name="gpt", model="gpt-t")
    reviewer = TeacherConfig(name="gem", model="gem-t")
    example = EXAMPLES["q1"]
    rationales = [{"example_id": "q1", "teacher": "gpt", "text": "Tom ends with 4 apples."}]
    for hint, shown in (("answer", False), ("solution", True)):
        prompts = PromptSet(teacher_hint=hint)
        feedback = plan_committee_calls(teacher, "feedback", EXAMPLES, MISTAKES[:1], prompts)
        rationale = plan_committee_calls(teacher, "rationale", EXAMPLES, MISTAKES[:1], prompts)
        review = plan_reviews(reviewer, EXAMPLES, rationales, prompts)
        for call, expected in ((feedback[0], shown), (review[0], shown), (rationale[0], False)):
            text = "\n".join(m.content for m in call.request.messages)
            assert (example.solution in text) is expected, (hint, call.role)
