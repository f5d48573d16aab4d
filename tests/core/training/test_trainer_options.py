"""Trainer options: validation split and its loss, model card and loss plot, precision, gradient
checkpointing, packing's padding count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import TrainingConfig
from fair_core.records import TrainSample
from fair_core.training.model import resolve_precision
from fair_core.training.split import split_by_example
from fair_core.training.trainer import train_student

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# 8 questions, two samples each (a rationale and a feedback), distinct texts
SAMPLES = [
    TrainSample(
        f"{task}-{i}",
        task,
        f"What is {i} + {i + 1}?" if task == "rationale" else f"What is {i} + {i + 1}? You said {i}.",
        f"{i} + {i + 1} = {2 * i + 1}. The answer is {2 * i + 1}.",
        1.0,
        {"example_id": f"q{i}", "teacher": "t"},
    )
    for i in range(8)
    for task in ("rationale", "feedback")
]


def _cfg(**overrides: Any) -> TrainingConfig:
    base: dict[str, Any] = dict(learning_rate=1e-2, epochs=3, batch_size=4, grad_accum=1, save_steps=1000)
    return TrainingConfig(**{**base, **overrides})


def test_split_keeps_a_question_together() -> None:
    train, validation = split_by_example(SAMPLES, 0.25, seed=3)
    held = {s.meta["example_id"] for s in validation}
    assert len(held) == 2 and len(validation) == 4 and len(train) == 12
    assert not held & {s.meta["example_id"] for s in train}
    assert split_by_example(SAMPLES, 0.25, seed=3) == (train, validation)  # deterministic
    assert split_by_example(SAMPLES, 0.0, seed=3) == (SAMPLES, [])
    assert len(split_by_example(SAMPLES[:2], 0.5, seed=3)[1]) == 0  # one question: nothing held out


def test_validation_loss_card_and_plot(tiny_model_dir: Path, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    card = {"title": "FAIR student test", "round": 2, "settings": {"teachers": "mixed", "alpha": 0.5}}
    result = train_student(
        SAMPLES, tiny_model_dir, tmp_path, _cfg(validation_fraction=0.25), progress=seen.append, card=card
    )
    assert (result.num_samples, result.num_validation_samples) == (12, 4)
    assert (result.train_questions, result.validation_questions) == (6, 2)
    assert [s for s, _ in result.eval_losses] == [0, 3, 6, 9]  # before training, then every epoch
    assert result.final_eval_loss < 0.8 * result.initial_eval_loss
    assert [e["step"] for e in seen if "eval_loss" in e] == [0, 3, 6, 9]
    assert [s for s, _ in result.learning_rates] == list(range(1, 10))
    model = result.model_dir
    text = (model / "README.md").read_text()
    for expected in ("# FAIR student test", "round 2", "| alpha | 0.5 |", "| validation samples | 4 |"):
        assert expected in text
    assert f"| validation loss after training | {result.final_eval_loss:.4g} |" in text
    assert (model / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((model / "train_result.json").read_text())
    assert record["eval_losses"][0] == [0, result.initial_eval_loss]
    assert 0 <= record["padding_fraction"] < 1 and record["batching"] == "length_grouped"
    again = train_student(SAMPLES, tiny_model_dir, tmp_path, _cfg(validation_fraction=0.25))
    assert again.reused and again.eval_losses == result.eval_losses


def test_packing_computes_less_padding_than_padding_to_max_length(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    runs = {
        mode: train_student(
            SAMPLES, tiny_model_dir, tmp_path / mode, _cfg(epochs=1, batching=mode, max_length=128)
        )
        for mode in ("packed", "length_grouped", "padded")
    }
    useful = {mode: r.useful_tokens for mode, r in runs.items()}
    assert len(set(useful.values())) == 1  # the same samples, the same real tokens
    assert runs["padded"].padding_fraction > 0.5  # samples of ~25 tokens padded to 128
    assert runs["packed"].padding_fraction < runs["length_grouped"].padding_fraction < 0.5
    assert runs["packed"].steps == runs["padded"].steps == 4  # samples per step are unchanged


def test_gradient_checkpointing_gives_the_same_losses(tiny_model_dir: Path, tmp_path: Path) -> None:
    kwargs: dict[str, Any] = dict(epochs=1, lora_dropout=0.0)
    plain = train_student(SAMPLES, tiny_model_dir, tmp_path / "plain", _cfg(**kwargs))
    checkpointed = train_student(
        SAMPLES, tiny_model_dir, tmp_path / "gc", _cfg(gradient_checkpointing=True, **kwargs)
    )
    assert [s for s, _ in checkpointed.losses] == [s for s, _ in plain.losses]
    for (_, a), (_, b) in zip(plain.losses, checkpointed.losses, strict=True):
        assert a == pytest.approx(b, rel=1e-4)


def test_precision_follows_the_device() -> None:
    assert resolve_precision("auto", cuda=False) == "fp32"
    assert resolve_precision("bf16", cuda=False) == "bf16"  # CPU autocast
    assert resolve_precision("fp32", cuda=True) == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cuda=False)
