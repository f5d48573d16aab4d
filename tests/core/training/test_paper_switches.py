"""The paper-code switches of training: which samples (feedback without a rationale, one teacher without
review), batches of pairs, token-pooled loss, schedule, regularisation and optimizer."""

from __future__ import annotations

import math

import pytest
import torch

from fair_core.config import TrainingConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example, TrainSample
from fair_core.training.arguments import check_optimizer, planned_steps, scheduler_name, training_arguments
from fair_core.training.collate import IGNORE_INDEX, CompletionCollator, group_units, make_collator
from fair_core.training.loss import weighted_completion_loss
from fair_core.training.samples import build_training_samples

EXAMPLES = {e: Example(e, "svamp", f"question {e}?", "5") for e in ("q1", "q2", "q3")}
MISTAKES = [{"example_id": e, "student_completion": "it is 6", "gold": "5"} for e in EXAMPLES]
FEEDBACK = [{"example_id": e, "teacher": t, "text": f"{t} on {e}"} for e in EXAMPLES for t in ("gpt", "b")]
RATIONALES = [
    {"example_id": e, "teacher": t, "status": "ok", "text": f"{t} solves {e}"}
    for e in EXAMPLES
    for t in ("gpt", "b")
]
ACCEPTED = {("q1", "gpt"), ("q1", "b"), ("q2", "b")}  # q3: no rationale accepted; gpt's q2 rejected
ACCEPTANCE = [
    {
        "example_id": r["example_id"],
        "teacher": r["teacher"],
        "accepted": (r["example_id"], r["teacher"]) in ACCEPTED,
    }
    for r in RATIONALES
]


def build(**overrides: object) -> list[TrainSample]:
    cfg = TrainingConfig(**overrides)
    return build_training_samples(
        EXAMPLES, MISTAKES, FEEDBACK, RATIONALES, ACCEPTANCE, PromptSet(), cfg, seed=1
    )


def questions(samples: list[TrainSample], task: str) -> list[str]:
    return sorted(s.meta["example_id"] for s in samples if s.task == task)


def test_feedback_without_rationale_keep_or_drop() -> None:
    keep = build()
    assert questions(keep, "feedback") == ["q1", "q2", "q3"] and questions(keep, "rationale") == ["q1", "q2"]
    drop = build(feedback_without_rationale="drop")
    assert questions(drop, "feedback") == questions(drop, "rationale") == ["q1", "q2"]
    assert {s.weight for s in drop} == {1.0}  # alpha 0.5 over equal task counts


def test_single_teacher_review_keep_or_skip() -> None:
    kept = build(teachers=["gpt"])
    assert questions(kept, "rationale") == ["q1"]  # only gpt's accepted rationale
    skipped = build(teachers=["gpt"], single_teacher_review="skip")
    assert questions(skipped, "rationale") == ["q1", "q2", "q3"]  # every parsed gpt rationale
    assert {s.meta["teacher"] for s in skipped} == {"gpt"}
    assert build(single_teacher_review="skip") == build()  # the whole committee: review always applies


def _batch(lengths: list[int], tasks: list[int], weights: list[float], vocab: int = 7):
    """A padded batch of one-token prompts and completions of the given lengths, with random logits."""
    gen = torch.Generator().manual_seed(0)
    width = max(lengths) + 1
    ids = torch.randint(0, vocab, (len(lengths), width), generator=gen)
    labels = ids.clone()
    labels[:, 0] = IGNORE_INDEX
    for row, n in enumerate(lengths):
        labels[row, n + 1 :] = IGNORE_INDEX
    logits = torch.randn(len(lengths), width, vocab, generator=gen)
    return logits, labels, torch.tensor(weights), torch.tensor(tasks)


def _token_losses(logits: torch.Tensor, labels: torch.Tensor, row: int) -> torch.Tensor:
    mask = labels[row, 1:].ne(IGNORE_INDEX)
    return torch.nn.functional.cross_entropy(logits[row, :-1][mask], labels[row, 1:][mask], reduction="none")


@pytest.mark.parametrize("alpha", [0.5, 0.3])
def test_token_and_sample_reduction_keep_alpha(alpha: float) -> None:
    # a batch of two pairs: feedback (task 1) completions of 1 and 5 tokens, rationale (task 0) of 2 and 3
    lengths, tasks = [1, 2, 5, 3], [1, 0, 1, 0]
    weights = [2 * alpha if t == 1 else 2 * (1 - alpha) for t in tasks]  # task_weights for n_f == n_r
    logits, labels, w, task_ids = _batch(lengths, tasks, weights)
    per_row = [_token_losses(logits, labels, i) for i in range(4)]
    fb, ra = [per_row[i] for i in (0, 2)], [per_row[i] for i in (1, 3)]
    token = alpha * torch.cat(fb).mean() + (1 - alpha) * torch.cat(ra).mean()  # the paper code's loss
    sample = (
        alpha * torch.stack([x.mean() for x in fb]).mean()
        + (1 - alpha) * torch.stack([x.mean() for x in ra]).mean()
    )
    got_token = weighted_completion_loss(logits, labels, w, task_ids=task_ids, reduction="token")
    got_sample = weighted_completion_loss(logits, labels, w, task_ids=task_ids, reduction="sample")
    assert got_token.item() == pytest.approx(token.item(), rel=1e-5)
    assert got_sample.item() == pytest.approx(sample.item(), rel=1e-5)
    assert abs(got_token.item() - got_sample.item()) > 1e-4  # the long feedback weighs more per token


def test_pair_units_batch_a_question_with_its_samples() -> None:
    features = [
        {"input_ids": [1, 2, 3], "prompt_len": 1, "weight": 1.0, "length": 3, "task_id": t, "unit": f"0/q{q}"}
        for q in range(3)
        for t in (0, 1)
    ]
    units = group_units(features)
    assert [len(u["members"]) for u in units] == [2, 2, 2] and units[0]["length"] == 6
    batch = make_collator("length_grouped", 0, 16, pairs=True)(units[:2])
    assert batch["input_ids"].shape[0] == 4 and batch["task_ids"].tolist() == [0, 1, 0, 1]
    assert CompletionCollator(0)(features[:2])["task_ids"].tolist() == [0, 1]


def paper_code_steps(pairs: int, batch: int = 8, accum: int = 2, epochs: int = 10) -> int:
    """The paper code (train.py: TrainingArguments with per-device batch 8 of (feedback, rationale) pairs,
    gradient_accumulation_steps 2, 10 epochs, transformers 4.47): epochs x (dataloader batches // accum)."""
    return epochs * max(math.ceil(pairs / batch) // accum, 1)


def test_planned_steps_pair_versus_sample() -> None:
    paper = TrainingConfig(batch_unit="pair", batch_size=8, grad_accum=2, epochs=10)
    assert planned_steps(365, paper) == paper_code_steps(365) == 230  # 46 batches of pairs -> 23 a epoch
    assert planned_steps(2 * 365, paper.model_copy(update={"batch_unit": "sample"})) == 460
    # 13 batches an epoch: transformers 5 ends every epoch with a step on the odd batch (7 an epoch); the
    # paper's 4.47 counted 13 // 2 = 6 and carried the odd batch's gradient into the next epoch's first step
    assert (planned_steps(100, paper), paper_code_steps(100)) == (70, 60)


def test_schedule_regularisation_and_optimizer_arguments(tmp_path) -> None:
    cfg = TrainingConfig(lr_scheduler="constant", weight_decay=0.01, max_grad_norm=0.3)
    args = training_arguments(
        cfg, str(tmp_path), seed=1, precision="fp32", cuda=False, world_size=1, evaluate=False, resume=False
    )
    assert str(args.lr_scheduler_type.value) == "constant"
    assert (args.weight_decay, args.max_grad_norm, str(args.optim.value)) == (0.01, 0.3, "adamw_torch")
    default = training_arguments(
        TrainingConfig(),
        str(tmp_path),
        seed=1,
        precision="fp32",
        cuda=False,
        world_size=1,
        evaluate=False,
        resume=False,
    )
    assert (str(default.lr_scheduler_type.value), default.weight_decay, default.max_grad_norm) == (
        "linear",
        0.0,
        1.0,
    )
    assert scheduler_name(TrainingConfig(lr_scheduler="constant", warmup_ratio=0.1)) == "constant_with_warmup"
    assert scheduler_name(TrainingConfig(lr_scheduler="cosine")) == "cosine"


def test_paged_adamw_needs_bitsandbytes_and_a_gpu() -> None:
    import importlib.util

    cfg = TrainingConfig(optimizer="paged_adamw_32bit")
    check_optimizer(TrainingConfig(), cuda=False)  # adamw_torch runs anywhere
    with pytest.raises(ValueError, match=r"training\.optimizer=paged_adamw_32bit needs") as err:
        check_optimizer(cfg, cuda=False)
    wanted = "bitsandbytes" if importlib.util.find_spec("bitsandbytes") is None else "CUDA GPU"
    assert wanted in str(err.value) and "\n" not in str(err.value)


# 8 questions, each with a rationale and a feedback sample
PAIRS = [
    TrainSample(
        f"{task}-{i}",
        task,
        f"What is {i} + {i + 1}?" if task == "rationale" else f"What is {i} + {i + 1}? You said {i}.",
        f"{i} + {i + 1} = {2 * i + 1}." + (" The answer is that." if task == "feedback" else ""),
        1.0,
        {"example_id": f"q{i}", "teacher": "t"},
    )
    for i in range(8)
    for task in ("rationale", "feedback")
]


@pytest.mark.usefixtures("torch_single_thread")
def test_pairs_take_half_the_steps_and_the_schedule_holds(tiny_model_dir, tmp_path) -> None:
    from fair_core.training.trainer import train_student

    base = dict(learning_rate=1e-3, epochs=1, batch_size=2, grad_accum=2, save_steps=1000)
    pair = TrainingConfig(**base, batch_unit="pair", lr_scheduler="constant", loss_reduction="token")
    paired = train_student(PAIRS, tiny_model_dir, tmp_path / "pair", pair)
    assert paired.steps == planned_steps(8, pair) == 2  # 8 questions: 4 batches of 2 pairs
    assert {rate for _, rate in paired.learning_rates} == {1e-3}  # constant
    sampled = train_student(PAIRS, tiny_model_dir, tmp_path / "sample", TrainingConfig(**base))
    assert sampled.steps == 4  # 16 samples: 8 batches of 2
    rates = [rate for _, rate in sampled.learning_rates]
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]  # linear decay
    assert all(math.isfinite(loss) for _, loss in paired.losses + sampled.losses)


def test_train_student_refuses_an_optimizer_it_cannot_run(tiny_model_dir, tmp_path) -> None:
    from fair_core.training.trainer import train_student

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine may run paged_adamw_32bit")
    with pytest.raises(ValueError, match=r"training\.optimizer=paged_adamw_32bit"):
        train_student(PAIRS, tiny_model_dir, tmp_path, TrainingConfig(optimizer="paged_adamw_32bit"))
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.usefixtures("torch_single_thread")
@pytest.mark.parametrize("batching", ["packed", "padded"])
def test_pairs_with_validation_and_other_batching(tiny_model_dir, tmp_path, batching: str) -> None:
    from fair_core.training.trainer import train_student

    cfg = TrainingConfig(
        learning_rate=1e-3,
        epochs=1,
        batch_size=2,
        grad_accum=1,
        save_steps=1000,
        batch_unit="pair",
        batching=batching,
        validation_fraction=0.25,
        loss_reduction="token",
        max_length=64,
    )
    result = train_student(PAIRS, tiny_model_dir, tmp_path, cfg)
    assert (result.num_samples, result.num_validation_samples, result.steps) == (12, 4, 3)  # 6 questions
    assert result.final_eval_loss is not None and math.isfinite(result.final_eval_loss)
