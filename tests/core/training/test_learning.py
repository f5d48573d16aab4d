"""The trainer learns: LoRA on SmolLM2-135M, trained on gsm_symbolic problems whose gold chains of thought
are the accepted rationales, lowers the validation loss on held-out problems (slow: 6 optimizer steps,
about a minute on 2 idle cores)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.config import DatasetConfig, TrainingConfig
from fair_core.datasets.registry import load_examples
from fair_core.prompts import PromptSet
from fair_core.students.models import resolve_model
from fair_core.training.samples import build_training_samples
from fair_core.training.trainer import train_student

QUESTIONS = 16  # 12 to train on, 4 held out


@pytest.mark.slow
def test_lora_on_gold_rationales_lowers_validation_loss(smollm2_models_dir: Path, tmp_path: Path) -> None:
    gym = DatasetConfig(name="reasoning_gym", gym={"task": "gsm_symbolic", "train_size": QUESTIONS})
    examples = {e.id: e for e in load_examples(gym, "train").examples}
    assert len(examples) == QUESTIONS and all(e.solution for e in examples.values())
    # every question is a mistake; its gold chain of thought is the one accepted rationale
    mistakes = [{"example_id": i, "student_completion": "?"} for i in examples]
    rationales = [
        {"example_id": i, "teacher": "gold", "text": f"{e.solution}\nThe answer is {e.answer}."}
        for i, e in examples.items()
    ]
    acceptance = [{"example_id": i, "teacher": "gold", "accepted": True} for i in examples]
    cfg = TrainingConfig(
        use_feedback=False,
        learning_rate=2e-3,
        epochs=1,
        batch_size=2,
        grad_accum=1,
        max_length=256,
        validation_fraction=0.25,
        lora_dropout=0.0,
        seed=0,
    )
    samples = build_training_samples(examples, mistakes, [], rationales, acceptance, PromptSet(), cfg)
    assert len(samples) == QUESTIONS
    model = resolve_model("smollm2-135m", smollm2_models_dir)
    result = train_student(samples, model, tmp_path, cfg)
    r = result
    print(  # the figures quoted in the report (pytest -s)
        f"\nSmolLM2-135M LoRA, {r.num_samples} train / {r.num_validation_samples} validation problems,"
        f" {r.steps} steps in {r.train_seconds:.0f}s: validation loss {r.initial_eval_loss:.4f} ->"
        f" {r.final_eval_loss:.4f}; train loss {r.losses[0][1]:.4f} -> {r.losses[-1][1]:.4f};"
        f" padding {r.padding_fraction:.1%}"
    )
    assert (result.num_samples, result.num_validation_samples) == (12, 4)
    assert [s for s, _ in result.eval_losses] == [0, result.steps]
    assert result.final_eval_loss < 0.95 * result.initial_eval_loss  # measured: 1.612 -> 1.497 in 6 steps
