"""`fair estimate`: calls, tokens and cost of a round from the real prompts, with nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fair_core.config import load_config, preset_path
from fair_core.datasets import load_examples
from fair_core.estimate import assumed_mistakes, estimate_round, mistakes_from_run
from fair_core.store import RunStore
from flows.cli import app


@pytest.fixture(scope="module")
def demo():
    config = load_config(preset_path("demo"), ["dataset.gym.train_size=20"])
    examples = load_examples(config.dataset, config.dataset.train_split).examples
    return config, examples


def test_calls_tokens_and_costs_per_teacher_and_role(demo) -> None:
    config, examples = demo
    mistakes = assumed_mistakes(examples, 0.5)
    assert len(mistakes) == 10
    estimate = estimate_round(config, {e.id: e for e in examples}, mistakes, "test")
    rows = {(r.teacher, r.role): r for r in estimate.rows}
    teachers = [t.name for t in config.teachers]
    assert set(rows) == {(t, role) for t in teachers for role in ("feedback", "rationale", "review")}
    for t in teachers:
        assert rows[t, "feedback"].calls == rows[t, "rationale"].calls == 10
        assert rows[t, "review"].calls == 10 * (len(teachers) - 1)  # every other teacher's rationale
        assert rows[t, "feedback"].prompt_tokens > rows[t, "rationale"].prompt_tokens > 0  # hint + answer
        assert rows[t, "review"].completion_max == 20 * 512
    gpt = rows["gpt", "rationale"]  # gpt-3.5-turbo: $0.50 / $1.50 per million
    assert gpt.online_max_usd == pytest.approx((gpt.prompt_tokens * 0.5 + gpt.completion_max * 1.5) / 1e6)
    assert gpt.batch_typical_usd == pytest.approx(gpt.online_typical_usd / 2)
    assert estimate.total("calls") == 3 * (10 + 10 + 20)
    with pytest.raises(ValueError, match="between 0 and 1"):
        assumed_mistakes(examples, 1.5)


def test_an_unpriced_model_has_no_cost(demo) -> None:
    config, examples = demo
    teachers = [t.model_copy(update={"model": "my-model"}) if t.name == "gpt" else t for t in config.teachers]
    local = config.model_copy(update={"teachers": teachers})
    estimate = estimate_round(local, {e.id: e for e in examples}, assumed_mistakes(examples, 0.1), "test")
    assert estimate.unpriced == ["gpt"]
    assert all(r.online_max_usd is None for r in estimate.rows if r.teacher == "gpt")


def test_cli_prints_the_table_and_reads_a_runs_mistakes(demo, tmp_path: Path) -> None:
    _, examples = demo
    runner = CliRunner()
    demo_yaml = str(preset_path("demo"))
    result = runner.invoke(app, ["estimate", "--config", demo_yaml, "--set", "dataset.gym.train_size=20"])
    assert result.exit_code == 0, result.output
    assert "the paper's worst case" in result.output and "Nothing was sent" in result.output
    assert "gpt" in result.output and "review" in result.output and "total" in result.output

    store = RunStore(tmp_path, "some-run").round(0)
    store.write("mistakes", [{"example_id": examples[3].id, "student_completion": "5", "gold": "7"}])
    rows, source = mistakes_from_run(str(tmp_path), "some-run")
    assert len(rows) == 1 and "round 0" in source
    args = ["estimate", "-c", demo_yaml, "--set", "dataset.gym.train_size=20", "--data-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--from-run", "some-run"])
    assert result.exit_code == 0, result.output
    assert "the 1 real mistakes of run some-run, round 0" in " ".join(result.output.split())
    missing = runner.invoke(app, [*args, "--from-run", "no-such-run"])
    assert missing.exit_code == 2 and "no mistakes table" in missing.output
