"""Tests of completion-only tokenization, the weighted loss and `train_student` on the tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fair_core.config import TrainingConfig
from fair_core.records import TrainSample
from fair_core.students.formatting import encode_prompt
from fair_core.training.checkpoints import latest_checkpoint
from fair_core.training.collate import IGNORE_INDEX, CompletionCollator, encode_samples
from fair_core.training.result import TrainResult
from fair_core.training.trainer import train_student

pytestmark = pytest.mark.usefixtures("torch_single_thread")

SAMPLES = [
    TrainSample("a", "rationale", "What is 2 + 3?", "2 + 3 = 5. The answer is 5.", 1.0),
    TrainSample(
        "b", "feedback", "Tom has 3 apples and buys 4 more. You said 12.", "You multiplied. It is 7.", 1.0
    ),
    TrainSample("c", "rationale", "What is 7 - 4?", "7 - 4 = 3.", 1.0),
    TrainSample("d", "feedback", "hi", "The answer is 10.", 1.0),
]


def _cfg(**overrides: Any) -> TrainingConfig:
    base: dict[str, Any] = dict(learning_rate=1e-2, epochs=10, batch_size=2, grad_accum=1, save_steps=1000)
    return TrainingConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_collated_labels_mask_prompt_and_padding(tokenizer: Any) -> None:
    encoded = encode_samples(SAMPLES[:2], tokenizer, max_length=512)
    batch = CompletionCollator(pad_token_id=tokenizer.pad_token_id)(encoded.features)
    eos = tokenizer.eos_token_id
    assert eos == tokenizer.pad_token_id
    for row, sample in enumerate(SAMPLES[:2]):
        prompt = encode_prompt(tokenizer, sample.prompt, None, None)
        completion = [*tokenizer(sample.completion, add_special_tokens=False)["input_ids"], eos]
        n = len(prompt) + len(completion)
        ids, labels, mask = (batch[k][row].tolist() for k in ("input_ids", "labels", "attention_mask"))
        assert ids[:n] == prompt + completion
        assert labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
        assert labels[len(prompt) : n] == completion  # the final eos is learned although pad == eos
        assert labels[n:] == [IGNORE_INDEX] * (len(ids) - n)
        assert mask == [1] * n + [0] * (len(ids) - n)
    assert batch["weights"].tolist() == [1.0, 1.0]
    assert batch["input_ids"].shape[1] == max(f["length"] for f in encoded.features)


def test_truncation_keeps_prompt_and_drops_empty(tokenizer: Any) -> None:
    short = TrainSample("s", "rationale", "hi", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")
    long_prompt = TrainSample("l", "rationale", "word " * 40, "5")
    prompt_len = len(encode_prompt(tokenizer, "hi", None, None))
    encoded = encode_samples([short, long_prompt], tokenizer, max_length=prompt_len + 4)
    assert (encoded.dropped, encoded.truncated, len(encoded.features)) == (1, 1, 1)
    feature = encoded.features[0]
    assert feature["prompt_len"] == prompt_len and feature["length"] == prompt_len + 4
    assert feature["input_ids"][-1] != tokenizer.eos_token_id  # the tail, eos included, was cut


def test_weighted_loss_is_weighted_mean_of_sample_losses(
    tiny_model_dir: Path, tokenizer: Any, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, TrainingArguments

    from fair_core.training.loss import WeightedCompletionTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    weights = [0.5, 2.0, 1.0]
    samples = [
        TrainSample(s.sample_id, s.task, s.prompt, s.completion, w)
        for s, w in zip(SAMPLES, weights, strict=False)
    ]
    features = encode_samples(samples, tokenizer, max_length=512).features
    expected = []
    with torch.no_grad():
        for feature, weight in zip(features, weights, strict=True):
            ids, start = torch.tensor([feature["input_ids"]]), feature["prompt_len"]
            logprobs = model(input_ids=ids).logits[0].log_softmax(-1)
            targets = ids[0, start:]
            expected.append(weight * -logprobs[start - 1 : -1].gather(1, targets[:, None]).mean())
    batch = CompletionCollator(pad_token_id=tokenizer.pad_token_id)(features)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = WeightedCompletionTrainer(model=model, args=args)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
    torch.testing.assert_close(loss, torch.stack(expected).mean(), atol=1e-5, rtol=1e-5)


def test_training_lowers_loss_and_is_reused(tiny_model_dir: Path, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    result = train_student(SAMPLES, tiny_model_dir, tmp_path / "r0", _cfg(), progress=seen.append)
    assert result.steps == 20 and [s for s, _ in result.losses] == list(range(1, 21))
    first, last = result.losses[0][1], sum(loss for _, loss in result.losses[-3:]) / 3
    assert last < 0.8 * first
    assert result.resumed_from is None and not result.reused
    assert (result.model_dir / "adapter_config.json").is_file()
    assert (result.model_dir / "tokenizer.json").is_file()
    assert not (tmp_path / "r0" / "checkpoints").exists()
    assert len(seen) == 20 and set(seen[0]) == {"step", "loss", "learning_rate", "epoch", "max_steps"}
    assert seen[-1]["step"] == seen[-1]["max_steps"] == 20
    again = train_student(SAMPLES, tiny_model_dir, tmp_path / "r0", _cfg())
    assert again.reused and again.losses == result.losses and again.model_dir == result.model_dir


def test_continue_from_previous_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    first = train_student(SAMPLES, tiny_model_dir, tmp_path / "r0", _cfg(lora_r=4))
    second = train_student(
        SAMPLES, tiny_model_dir, tmp_path / "r1", _cfg(lora_r=16), init_adapter=first.model_dir
    )
    # It starts where the first round ended, not from a fresh adapter.
    assert second.losses[0][1] < 0.8 * first.losses[0][1]
    assert second.losses[0][1] == pytest.approx(first.final_train_loss, rel=0.2)
    before = load_file(first.model_dir / "adapter_model.safetensors")
    after = load_file(second.model_dir / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert all(before[k].shape == after[k].shape for k in before)  # r stays the first adapter's (4)
    assert any(not (before[k] == after[k]).all() for k in before)


class _Interrupt(Exception):
    pass


def test_resume_after_interruption(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 6:
                raise _Interrupt

    cfg = _cfg(epochs=6, save_steps=4)
    with pytest.raises(_Interrupt):
        train_student(SAMPLES, tiny_model_dir, tmp_path / "run", cfg, callbacks=[StopAt()])
    checkpoint = latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert checkpoint is not None and checkpoint.name == "checkpoint-4"
    assert not (tmp_path / "run" / "model").exists()
    result = train_student(SAMPLES, tiny_model_dir, tmp_path / "run", cfg)
    assert result.resumed_from == str(checkpoint)
    assert result.steps == 12 and [s for s, _ in result.losses] == list(range(1, 13))


def test_full_finetune_memorizes_and_generates(tiny_model_dir: Path, tmp_path: Path) -> None:
    from fair_core.students.base import GenerationParams
    from fair_core.students.transformers_backend import TransformersStudent

    samples = SAMPLES[:2]
    result: TrainResult = train_student(
        samples, tiny_model_dir, tmp_path / "full", _cfg(method="full", learning_rate=3e-3, epochs=30)
    )
    assert (result.model_dir / "model.safetensors").is_file()
    assert result.losses[-1][1] < 0.05
    student = TransformersStudent(result.model_dir)
    answers = student.generate([s.prompt for s in samples], GenerationParams(max_new_tokens=40))
    assert [a.text for a in answers] == [s.completion for s in samples]  # stops at eos
    tokenizer = student.tokenizer
    assert answers[0].completion_tokens == len(tokenizer(samples[0].completion)["input_ids"]) + 1


def test_no_trainable_sample(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no trainable sample"):
        train_student(
            [TrainSample("x", "rationale", "word " * 40, "5")], tiny_model_dir, tmp_path, _cfg(max_length=16)
        )
