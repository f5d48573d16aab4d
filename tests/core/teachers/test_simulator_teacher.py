"""The simulated teachers' pure behaviour (no server): lookup, roles, rationales, feedback, reviews."""

from __future__ import annotations

import re

import pytest

from fair_core.answers import answers_match, extract_answer
from fair_core.config import SimulatorConfig
from fair_core.prompts.builder import PromptSet, gold_text
from fair_core.records import Example, Message
from fair_core.teachers.simulator.teacher import GENERIC_REPLY, RoleMarkers, TeacherSimulator
from tests.simulators.fixtures import EXAMPLES

PROMPTS = PromptSet()
SCORE = re.compile(r"\[(\d)\]\s*$")


def _sim(**cfg: float) -> TeacherSimulator:
    return TeacherSimulator(
        EXAMPLES,
        SimulatorConfig(**{"wrong_rate": 0.0, "unparseable_rate": 0.0, **cfg}),
        wrong_rates={"bad": 1.0},
    )


def test_rationales_right_and_wrong_for_every_kind() -> None:
    sim = _sim()
    for example in EXAMPLES:
        good = sim.reply("good", PROMPTS.rationale(example)).text
        bad = sim.reply("bad", PROMPTS.rationale(example)).text
        assert good.endswith(".") and "The answer is" in good and "The answer is" in bad
        assert answers_match(
            extract_answer(good, example.kind, example.options), example.answer, example.kind
        )
        wrong = extract_answer(bad, example.kind, example.options)
        assert wrong is not None and not answers_match(wrong, example.answer, example.kind), (example.id, bad)
    gsm = sim.reply("good", PROMPTS.rationale(EXAMPLES[0]))
    assert gsm.text.startswith(EXAMPLES[0].solution) and gsm.role == "rationale" and gsm.example_id == "gsm-1"


def test_same_question_different_passage_is_told_apart() -> None:
    sim = _sim()
    for example in EXAMPLES[4:]:
        assert sim.find_example(PROMPTS.student(example)) == example
        assert sim.reply("good", PROMPTS.review(example, "x")).example_id == example.id


def test_wrong_rate_is_deterministic_and_per_model() -> None:
    many = [Example(f"e{i}", "gsm8k", f"What is {i} plus {i}?", str(2 * i)) for i in range(400)]
    sim = TeacherSimulator(many, SimulatorConfig(wrong_rate=0.25), wrong_rates={"never": 0.0})
    wrong = [sim.is_wrong("m", e) for e in many]
    assert 60 < sum(wrong) < 140
    assert wrong == [TeacherSimulator(many, SimulatorConfig(wrong_rate=0.25)).is_wrong("m", e) for e in many]
    assert not any(sim.is_wrong("never", e) for e in many)
    assert [sim.is_wrong("m", many[0], s) for s in range(40)].count(True) not in (0, 40)


def test_feedback_names_the_correct_answer() -> None:
    sim = _sim()
    for example in EXAMPLES:
        reply = sim.reply("good", PROMPTS.feedback(example, "I think the answer is 3."))
        assert reply.role == "feedback" and f"correct answer is {gold_text(example)}" in reply.text


def test_review_scores_follow_the_reviewed_answer() -> None:
    sim = _sim()
    for example in EXAMPLES:
        for author, expected in (("good", {4, 5}), ("bad", {1, 2})):
            rationale = sim.reply(author, PROMPTS.rationale(example)).text
            reply = sim.reply("reviewer", PROMPTS.review(example, rationale))
            match = SCORE.search(reply.text)
            assert reply.role == "review" and match and int(match.group(1)) in expected, (
                example.id,
                reply.text,
            )
    no_answer = sim.reply("reviewer", PROMPTS.review(EXAMPLES[0], "I have no idea."))
    assert SCORE.search(no_answer.text).group(1) in "12"


def test_unparseable_reviews_have_no_score() -> None:
    sim = _sim(unparseable_rate=1.0)
    reply = sim.reply("r", PROMPTS.review(EXAMPLES[0], "The answer is 11."))
    assert reply.role == "review" and not re.search(r"\[\d\]", reply.text)


def test_unknown_question_markers_and_max_tokens() -> None:
    sim = _sim()
    unknown = sim.reply("good", [Message("user", "What is the capital of Mars?")])
    assert unknown.text == GENERIC_REPLY and unknown.role == "unknown" and unknown.example_id is None
    # a marker inside the reviewed text (a fenced block) does not change the role
    fenced = PROMPTS.feedback(EXAMPLES[0], "Put the grade in square brackets.")
    assert sim.detect_role(fenced) == "feedback"
    custom = TeacherSimulator(EXAMPLES, SimulatorConfig(), markers=RoleMarkers(review=("GRADE ME",)))
    assert custom.detect_role([Message("user", "GRADE ME please")]) == "review"
    assert custom.detect_role(PROMPTS.review(EXAMPLES[0], "x")) == "rationale"
    cut = sim.reply("good", PROMPTS.feedback(EXAMPLES[0], "5"), max_tokens=5)
    assert cut.finish_reason == "length" and cut.completion_tokens == 5 and cut.prompt_tokens > 20


def test_lookup_uses_the_index_not_a_scan_of_thousands_of_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    many = [
        Example(f"e{i}", "gsm8k", f"Sam has {i} marbles and loses {i % 7}. How many remain?", "1")
        for i in range(5000)
    ]
    sim = TeacherSimulator(many, SimulatorConfig())
    checked: list[str] = []
    matches = sim._matches

    def counting(example: Example, text: str) -> bool:
        checked.append(example.id)
        return matches(example, text)

    monkeypatch.setattr(sim, "_matches", counting)
    prompts = [PROMPTS.review(many[i], "The answer is 1.") for i in range(0, 5000, 25)]
    found = [sim.find_example(p[-1].content) for p in prompts]
    assert [e.id for e in found] == [f"e{i}" for i in range(0, 5000, 25)]
    # the first-line index hands over the one candidate per prompt; a linear scan would check 5000 each
    assert len(checked) == len(prompts) and checked == [e.id for e in found]
