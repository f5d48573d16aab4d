"""The weighted completion-only loss and the `Trainer` subclass that uses it (and counts padding)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from fair_core.training.collate import IGNORE_INDEX
from fair_core.training.sampler import LengthGroupedSampler


def weighted_completion_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    segment_ids: torch.Tensor | None = None,
    task_ids: torch.Tensor | None = None,
    reduction: str = "sample",
) -> torch.Tensor:
    """The weighted completion loss of a batch of n samples.

    reduction "sample": mean_i(weight_i * L_i), L_i = mean next-token cross-entropy over sample i's unmasked
    label tokens. reduction "token": the samples of one task (`task_ids`, all one task without it) are
    pooled: sum_g (n_g / n) * sum_{i in g}(weight_i * S_i) / sum_{i in g} C_i, with S_i and C_i sample i's
    summed loss and token count, n_g the task's samples in the batch. Both are sum_g (n_g / n) * w_g * (the
    task's mean loss), per sample or per token, so the weights' alpha weighs the tasks the same way: a
    batch of pairs with weights 2 * alpha and 2 * (1 - alpha) gives alpha * L_feedback + (1 - alpha) *
    L_rationale, each L a token mean over the batch in "token" (the paper code's loss, without its padding).

    `segment_ids[b, t]` is the index (into `weights`) of the sample token t of row b belongs to, so one row
    may hold several packed samples; without it, row b is sample b. Every sample of the batch counts in the
    mean, one whose completion was cut away entirely with a loss of 0.
    """
    targets = labels[:, 1:]
    mask = targets.ne(IGNORE_INDEX)
    n = weights.shape[0]
    if segment_ids is None:
        segment_ids = torch.arange(labels.shape[0], device=labels.device)[:, None].expand_as(labels)
    # only the label positions go through the (vocabulary-wide) cross-entropy: less time and memory
    token_loss = torch.nn.functional.cross_entropy(
        logits[:, :-1][mask].float(), targets[mask], reduction="none"
    )
    segment = segment_ids[:, 1:][mask]
    sums = torch.zeros(n, device=logits.device).scatter_add_(0, segment, token_loss)
    counts = torch.zeros(n, device=logits.device).scatter_add_(0, segment, torch.ones_like(token_loss))
    weights = weights.to(sums.dtype)
    if reduction == "sample":
        return (weights * sums / counts.clamp(min=1)).mean()
    if reduction != "token":
        raise ValueError(f"loss reduction {reduction!r}: expected sample or token")
    groups = torch.zeros(n, dtype=torch.long, device=logits.device) if task_ids is None else task_ids
    size = int(groups.max()) + 1

    def per_group(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(size, device=logits.device).scatter_add_(0, groups, values)

    members = per_group(torch.ones_like(sums))
    return (members * per_group(weights * sums) / per_group(counts).clamp(min=1)).sum() / n


class WeightedCompletionTrainer(Trainer):
    """`Trainer` whose loss is `weighted_completion_loss`.

    The collator provides weights, input_ids, labels, segment_ids, task_ids and either attention_mask
    (padded rows) or position_ids (packed rows); `loss_reduction` is training.loss_reduction. Training
    batches' token slots are counted: `token_slots` (every position computed) and `useful_tokens`
    (non-padding), for the padding fraction.
    """

    # A per-micro-batch mean: Trainer divides it by the gradient accumulation steps itself.
    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, loss_reduction: str = "sample", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_reduction = loss_reduction
        self.token_slots = 0
        self.useful_tokens = 0

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        forward: dict[str, Any] = {"input_ids": inputs["input_ids"], "use_cache": False}
        if inputs.get("position_ids") is not None:
            forward["position_ids"] = inputs["position_ids"]  # packed: the mask comes from the positions
        else:
            forward["attention_mask"] = inputs["attention_mask"]
        outputs = model(**forward)
        segments = inputs.get("segment_ids")
        loss = weighted_completion_loss(
            outputs.logits,
            inputs["labels"],
            inputs["weights"],
            segments,
            inputs.get("task_ids"),
            self.loss_reduction,
        )
        if model.training:
            self.token_slots += inputs["input_ids"].numel()
            useful = segments.ge(0).sum() if segments is not None else inputs["attention_mask"].sum()
            self.useful_tokens += int(useful)
        return (loss, outputs) if return_outputs else loss

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """Length grouping with our sampler (see `sampler.LengthGroupedSampler`); other strategies as set."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or not hasattr(dataset, "rows"):
            return super()._get_train_sampler(train_dataset)
        args = self.args
        per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
        # the dataloader cuts per-device batches; in distributed runs accelerate deals them out in turn
        batch = args.per_device_train_batch_size * max(args.world_size, 1)
        return LengthGroupedSampler([row["length"] for row in dataset.rows], batch, per_step)

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        """Batches of questions (batch_unit=pair) are length-grouped by their total length."""
        rows = getattr(eval_dataset, "rows", None)
        if self.args.train_sampling_strategy != "group_by_length" or not rows or "members" not in rows[0]:
            return super()._get_eval_sampler(eval_dataset)
        from transformers.trainer_pt_utils import LengthGroupedSampler as GroupedByLength

        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        lengths = [row["length"] for row in rows]
        generator = torch.Generator().manual_seed(seed)
        return GroupedByLength(self.args.eval_batch_size, lengths=lengths, generator=generator)
