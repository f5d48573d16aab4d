"""reasoning-gym: deterministic generation, numeric gold answers, solutions, disjoint train/test."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest

from fair_core.config import DatasetConfig
from fair_core.datasets import DatasetError, LoadResult, load_examples
from fair_core.datasets import gym as gym_module
from fair_core.datasets.expressions import evaluate, format_number
from fair_core.datasets.gym import gym_solution

NUMBER = re.compile(r"-?\d+(\.\d+)?")
CHAIN_SUM = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2}


def _cfg(task: str, options: dict[str, Any] | None = None, **kw: Any) -> DatasetConfig:
    gym = {"task": task, "options": options or {}, "train_size": 24, "test_size": 12}
    return DatasetConfig(name="reasoning_gym", gym=gym, **kw)


def _both(cfg: DatasetConfig) -> tuple[LoadResult, LoadResult]:
    return load_examples(cfg, cfg.train_split), load_examples(cfg, cfg.test_split)


@pytest.mark.parametrize(("task", "options"), [("chain_sum", CHAIN_SUM), ("gsm_symbolic", {})])
def test_gym_tasks(task: str, options: dict[str, Any]) -> None:
    cfg = _cfg(task, options)
    train, test = _both(cfg)
    assert (len(train.examples), len(test.examples)) == (24, 12)
    assert train.skipped == [] and test.skipped == []
    for ex in train.examples + test.examples:
        assert ex.dataset == f"reasoning_gym/{task}" and ex.kind == "numeric"
        assert NUMBER.fullmatch(ex.answer), ex
        assert ex.solution and "####" not in ex.solution
    assert train.examples[0].id == f"{task}-train-0"
    assert test.examples[0].id.startswith(f"{task}-test-")
    assert {e.question for e in train.examples}.isdisjoint(e.question for e in test.examples)
    # deterministic: a second load gives the same examples
    assert _both(cfg) == (train, test)


def test_chain_sum_solution_is_worked_arithmetic() -> None:
    train = load_examples(_cfg("chain_sum", CHAIN_SUM), "train").examples
    for ex in train:
        expression = ex.question.split(":")[-1].rstrip(" =")
        assert ex.solution == f"{expression.strip()} = {ex.answer}. The answer is {ex.answer}."


def test_seed_option_and_sizes() -> None:
    base = load_examples(_cfg("chain_sum", CHAIN_SUM), "train").examples
    seeded = load_examples(_cfg("chain_sum", {**CHAIN_SUM, "seed": 7}), "train").examples
    assert [e.question for e in base] != [e.question for e in seeded]
    assert seeded == load_examples(_cfg("chain_sum", {**CHAIN_SUM, "seed": 7}), "train").examples
    limited = load_examples(_cfg("chain_sum", CHAIN_SUM, train_limit=5, test_limit=3), "train").examples
    assert limited == base[:5]
    assert len(load_examples(_cfg("chain_sum", CHAIN_SUM, test_limit=3), "test").examples) == 3


def test_test_questions_seen_in_train_are_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(task: str, size: int, seed: int, options: dict[str, Any]) -> list[dict[str, Any]]:
        # the test seed repeats training question 0 and 1, and itself
        if seed == 0:
            return [{"question": f"q{i}", "answer": str(i), "metadata": {}} for i in range(size)]
        pool = ["q0", "new a", "q1", "new a", "new b", "new c", "new d", "new e", "new f"]
        return [{"question": pool[i % len(pool)], "answer": "1", "metadata": {}} for i in range(size)]

    monkeypatch.setattr(gym_module, "_create_dataset", fake)
    cfg = DatasetConfig(name="reasoning_gym", gym={"task": "fake", "train_size": 3, "test_size": 4})
    test = load_examples(cfg, "test").examples
    assert [e.question for e in test] == ["new a", "new b", "new c", "new d"]
    assert [e.id for e in test] == ["fake-test-1", "fake-test-4", "fake-test-5", "fake-test-6"]


def test_non_numeric_answers_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(task: str, size: int, seed: int, options: dict[str, Any]) -> list[Any]:
        return [{"question": "Q?", "answer": "blue"}, "junk", {"question": "Q2?", "answer": "4"}][:size]

    monkeypatch.setattr(gym_module, "_create_dataset", fake)
    cfg = DatasetConfig(name="reasoning_gym", gym={"task": "fake", "train_size": 3, "test_size": 1})
    result = load_examples(cfg, "train")
    assert [e.id for e in result.examples] == ["fake-train-2"]
    assert [s.row_id for s in result.skipped] == ["fake-train-0", "fake-train-1"]


def test_gym_errors() -> None:
    with pytest.raises(DatasetError, match=r"reasoning_gym task 'no_such_task'.*cannot generate"):
        load_examples(_cfg("no_such_task"), "train")
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        load_examples(_cfg("chain_sum", CHAIN_SUM), "dev")
    with pytest.raises(DatasetError, match="seed must be an integer"):
        load_examples(_cfg("chain_sum", {"seed": "x"}), "train")


def test_gym_solution_from_metadata() -> None:
    cot = "He has 2*3=6 apples.\nThen 6+1=7.\n#### 7"
    assert gym_solution({"answer_cot": cot}, "7") == "He has 2*3=6 apples.\nThen 6+1=7."
    assert gym_solution({"expression": "4 - 1"}, "3") == "4 - 1 = 3. The answer is 3."
    assert (
        gym_solution({"expression": "-( -2 * 3 ) / 4"}, "1.5") == "-( -2 * 3 ) / 4 = 1.5. The answer is 1.5."
    )
    assert gym_solution({"expression": "4 - 1"}, "5") is None  # never a solution that disagrees with gold
    assert gym_solution({"expression": "__import__('os')"}, "0") is None
    assert gym_solution({}, "1") is None


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", Fraction(7)),
        ("(1 + 2) * 3", Fraction(9)),
        ("-4 - -5", Fraction(1)),
        ("10 / 4", Fraction(5, 2)),
        ("2.5 * 2", Fraction(5)),
        ("8 - 2 - 1", Fraction(5)),
        ("12 / 2 / 3", Fraction(2)),
        ("1 / 0", None),
        ("2 ** 3", None),
        ("(1 + 2", None),
        ("1 +", None),
        ("abs(1)", None),
        ("1" + " + 1" * 200, None),  # too long
    ],
)
def test_evaluate(expression: str, value: Fraction | None) -> None:
    assert evaluate(expression) == value


def test_format_number() -> None:
    assert format_number(Fraction(3)) == "3"
    assert format_number(Fraction(-5, 2)) == "-2.5"
    assert format_number(Fraction(1, 8)) == "0.125"
    assert format_number(Fraction(1, 20)) == "0.05"
    assert format_number(Fraction(1, 3)) is None
