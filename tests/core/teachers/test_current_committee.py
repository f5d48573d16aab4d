"""The current-committee preset: one model per provider through its own SDK, every model priced, and the
OpenAI reasoning models' token cap sent under the name they accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.config import load_config
from fair_core.datasets import load_examples
from fair_core.estimate import assumed_mistakes, estimate_round
from fair_core.teachers.base import ChatRequest, Message
from fair_core.teachers.cost import PRICE_TABLE, price_for
from fair_core.teachers.openai_provider import chat_body

SVAMP = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "svamp"


def test_one_teacher_per_provider_each_priced_by_the_table() -> None:
    config = load_config("current-svamp")
    assert sorted(t.provider for t in config.teachers) == ["gemini", "mistral", "openai"]
    assert all(t.base_url is None for t in config.teachers)  # each provider's own API
    for teacher in config.teachers:
        price = price_for(teacher)
        assert price is not None and price.source == "table", teacher.name
        assert (price.input_per_mtok, price.output_per_mtok) == PRICE_TABLE[teacher.model]


@pytest.mark.parametrize(
    ("model", "cap"),
    [
        ("gpt-5-mini", "max_completion_tokens"),
        ("o3-mini", "max_completion_tokens"),
        ("gpt-4o-mini", "max_tokens"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "max_tokens"),
    ],
)
def test_reasoning_models_get_max_completion_tokens(model: str, cap: str) -> None:
    request = ChatRequest("gpt", "openai", model, (Message("user", "2+2?"),), max_tokens=64)
    body = chat_body(request)
    assert body[cap] == 64
    assert {"max_tokens", "max_completion_tokens"} & set(body) == {cap}


@pytest.mark.skipif(not SVAMP.is_dir(), reason="../shared/datasets/svamp is absent")
def test_fair_estimate_prices_a_round_of_the_current_committee() -> None:
    config = load_config("current-svamp", ["dataset.source=local", f"dataset.path={SVAMP}"])
    examples = load_examples(config.dataset, config.dataset.train_split).examples
    mistakes = assumed_mistakes(examples, 0.3)
    estimate = estimate_round(config, {e.id: e for e in examples}, mistakes, "test")
    assert not estimate.unpriced
    by_teacher = {r.teacher for r in estimate.rows if r.online_max_usd}
    assert by_teacher == {"gpt", "gemini", "mistral"}
    assert estimate.total("calls") == 3 * len(mistakes) * (1 + 1 + 2)
