"""The weighted completion-only loss and the `Trainer` subclass that uses it (and counts padding, and logs
each task's own loss)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from fair_core.training.collate import IGNORE_INDEX, TASK_IDS
from fair_core.training.sampler import LengthGroupedSampler

#: The training log's key of each task's own loss (unweighted; see `WeightedCompletionTrainer`).
TASK_LOSS_KEYS = {task: f"loss_{task}" for task in TASK_IDS}


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
    sums, counts = sample_token_losses(logits, labels, weights.shape[0], segment_ids)
    return reduce_weighted(sums, counts, weights, task_ids, reduction)


def sample_token_losses(
    logits: torch.Tensor, labels: torch.Tensor, n: int, segment_ids: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each of the n samples' summed next-token cross-entropy over its label tokens, and their count."""
    targets = labels[:, 1:]
    mask = targets.ne(IGNORE_INDEX)
    if segment_ids is None:
        segment_ids = torch.arange(labels.shape[0], device=labels.device)[:, None].expand_as(labels)
    # only the label positions go through the (vocabulary-wide) cross-entropy: less time and memory
    token_loss = torch.nn.functional.cross_entropy(
        logits[:, :-1][mask].float(), targets[mask], reduction="none"
    )
    segment = segment_ids[:, 1:][mask]
    sums = torch.zeros(n, device=logits.device).scatter_add_(0, segment, token_loss)
    counts = torch.zeros(n, device=logits.device).scatter_add_(0, segment, torch.ones_like(token_loss))
    return sums, counts


def reduce_weighted(
    sums: torch.Tensor,
    counts: torch.Tensor,
    weights: torch.Tensor,
    task_ids: torch.Tensor | None = None,
    reduction: str = "sample",
) -> torch.Tensor:
    """`weighted_completion_loss` from the samples' summed losses and token counts."""
    n = weights.shape[0]
    weights = weights.to(sums.dtype)
    if reduction == "sample":
        return (weights * sums / counts.clamp(min=1)).mean()
    if reduction != "token":
        raise ValueError(f"loss reduction {reduction!r}: expected sample or token")
    groups = torch.zeros(n, dtype=torch.long, device=sums.device) if task_ids is None else task_ids
    size = int(groups.max()) + 1

    def per_group(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(size, device=sums.device).scatter_add_(0, groups, values)

    members = per_group(torch.ones_like(sums))
    return (members * per_group(weights * sums) / per_group(counts).clamp(min=1)).sum() / n


class WeightedCompletionTrainer(Trainer):
    """`Trainer` whose loss is `weighted_completion_loss`.

    The collator provides weights, input_ids, labels, segment_ids, task_ids and either attention_mask
    (padded rows) or position_ids (packed rows); `loss_reduction` is training.loss_reduction. Training
    batches' token slots are counted: `token_slots` (every position computed) and `useful_tokens`
    (non-padding), for the padding fraction.

    Every training log (each optimizer step) also gets each task's own loss, unweighted, over the step's
    samples of that task (`TASK_LOSS_KEYS`: loss_rationale, loss_feedback; absent when the step had none):
    the mean of its samples' mean token losses with loss_reduction "sample", its tokens' mean with "token";
    summed over all processes in distributed runs. Trackers (training.report_to) get them too.
    """

    # A per-micro-batch mean: Trainer divides it by the gradient accumulation steps itself.
    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, loss_reduction: str = "sample", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_reduction = loss_reduction
        self.token_slots = 0
        self.useful_tokens = 0
        self._task_totals: torch.Tensor | None = None  # per task: summed loss, its divisor

    def _add_task_losses(self, sums: torch.Tensor, counts: torch.Tensor, task_ids: Any) -> None:
        with torch.no_grad():
            tasks = task_ids if task_ids is not None else torch.zeros_like(sums, dtype=torch.long)
            if self.loss_reduction == "token":
                values, divisors = sums.detach(), counts
            else:
                values, divisors = sums.detach() / counts.clamp(min=1), torch.ones_like(sums)
            totals = torch.zeros(2, len(TASK_IDS), device=sums.device)
            totals[0].scatter_add_(0, tasks.to(sums.device), values.float())
            totals[1].scatter_add_(0, tasks.to(sums.device), divisors.float())
            self._task_totals = totals if self._task_totals is None else self._task_totals + totals

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Adds each task's loss since the last training log (see the class docstring)."""
        if "loss" in logs:
            totals = self._task_totals
            if totals is None:
                totals = torch.zeros(2, len(TASK_IDS), device=self.args.device)
            if self.args.world_size > 1:
                totals = self.accelerator.reduce(totals.to(self.args.device), reduction="sum")
            for task, index in TASK_IDS.items():
                if float(totals[1, index]) > 0:
                    logs[TASK_LOSS_KEYS[task]] = round(float(totals[0, index] / totals[1, index]), 6)
            self._task_totals = None
        super().log(logs, *args, **kwargs)

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
        weights = inputs["weights"]
        sums, counts = sample_token_losses(outputs.logits, inputs["labels"], weights.shape[0], segments)
        loss = reduce_weighted(sums, counts, weights, inputs.get("task_ids"), self.loss_reduction)
        if model.training:
            self._add_task_losses(sums, counts, inputs.get("task_ids"))
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
