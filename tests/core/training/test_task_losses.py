"""Each task's own loss in the training log: the unweighted mean over a step's samples of that task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fair_core.records import TrainSample
from fair_core.training.collate import CompletionCollator, encode_samples
from fair_core.training.loss import TASK_LOSS_KEYS, WeightedCompletionTrainer
from tests.core.training.test_trainer import SAMPLES

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _sample_losses(model: Any, features: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """Each sample's summed completion cross-entropy and its token count, one sample at a time."""
    import torch

    out = []
    with torch.no_grad():
        for feature in features:
            ids, start = torch.tensor([feature["input_ids"]]), feature["prompt_len"]
            logprobs = model(input_ids=ids).logits[0].log_softmax(-1)
            targets = ids[0, start:]
            token_losses = -logprobs[start - 1 : -1].gather(1, targets[:, None])[:, 0]
            out.append((float(token_losses.sum()), len(targets)))
    return out


@pytest.mark.parametrize("reduction", ["sample", "token"])
def test_logged_task_losses_are_unweighted_task_means(
    reduction: str, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainingArguments

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert not model.config.attention_dropout  # train mode (the losses are counted) computes as eval mode
    model.train()
    weighted = [
        TrainSample(s.sample_id, s.task, s.prompt, s.completion, w)
        for s, w in zip(SAMPLES, [0.5, 3, 2, 1], strict=True)
    ]
    features = encode_samples(weighted, tokenizer, max_length=512).features
    assert len(features) == len(weighted)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = WeightedCompletionTrainer(model=model, args=args, loss_reduction=reduction)
    collate = CompletionCollator(pad_token_id=tokenizer.pad_token_id)
    for half in (features[:2], features[2:]):  # two micro-batches of one step (gradient accumulation)
        with torch.no_grad():
            trainer.compute_loss(model, collate(half))
    trainer.log({"loss": 1.0})
    logged = trainer.state.log_history[-1]

    model.eval()
    per_sample = _sample_losses(model, features)
    for task, key in TASK_LOSS_KEYS.items():
        mine = [loss for loss, s in zip(per_sample, weighted, strict=True) if s.task == task]
        if reduction == "sample":
            expected = sum(s / n for s, n in mine) / len(mine)
        else:
            expected = sum(s for s, _ in mine) / sum(n for _, n in mine)
        assert logged[key] == pytest.approx(expected, rel=1e-4), task  # weights play no part
    trainer.log({"loss": 2.0})  # a step without samples: no task loss, nothing carried over
    assert not set(TASK_LOSS_KEYS.values()) & set(trainer.state.log_history[-1])
    trainer.log({"eval_loss": 1.0})  # an evaluation log gets none
    assert not set(TASK_LOSS_KEYS.values()) & set(trainer.state.log_history[-1])


@pytest.mark.slow
def test_two_processes_log_the_task_losses_of_both(tiny_model_dir: Path, tmp_path: Path) -> None:
    """accelerate launch, 2 CPU processes: every step's task losses are summed over both ranks' samples."""
    from fair_core.config import TrainingConfig
    from fair_core.training.launch import run_distributed

    cfg = TrainingConfig(learning_rate=1e-2, epochs=2, batch_size=1, grad_accum=1, num_processes=2)
    result = run_distributed(SAMPLES, tiny_model_dir, tmp_path, cfg, seed=0)
    steps = [s for s, _ in result.losses]
    assert result.world_size == 2 and steps == [1, 2, 3, 4]  # 4 samples, 2 per step, 2 epochs
    tasks = {s for s, _ in result.rationale_losses} | {s for s, _ in result.feedback_losses}
    assert tasks == set(steps) and result.rationale_losses and result.feedback_losses
    assert [round(e, 6) for _, e in result.epochs] == [0.5, 1.0, 1.5, 2.0]
