"""Stage 3, peer review, as Prefect tasks: each teacher scores the others' rationales 1-5 (one task per
reviewer x shard), then the scores are parsed and each rationale is accepted or rejected.

`review_stage` composes them (a flow calls it).
"""

from __future__ import annotations

from prefect import task

from fair_core.config import FairConfig, ReviewConfig, TeacherConfig
from fair_core.identity import reply_origin
from fair_core.records import examples_by_id
from fair_core.refs import PromptsRef, RoundRef, TableRef
from fair_core.review import plan_reviews, review_rows, select_rationales
from fair_core.shards import shard_part, shard_slice
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.teachers import (
    available,
    send_planned,
    shard_count,
    teacher_task,
    with_retries,
)


@teacher_task("review-batch")
def review_rationales(
    reviewer: TeacherConfig,
    examples: TableRef,
    rationales: TableRef,
    prompts: PromptsRef,
    where: RoundRef,
    refresh: bool = False,
    budget_usd: float | None = None,
    shard: int = 0,
    shards: int = 1,
    origin: str = "",
) -> TableRef:
    """One teacher grades every other teacher's rationale 1-5 (shard `shard` of `shards`; `refresh`,
    `budget_usd` and `origin` as in the committee's `ask_teacher`)."""
    planned = plan_reviews(reviewer, examples_by_id(examples.rows()), rationales.rows(), prompts.load())
    part = shard_part(f"review-{reviewer.name}", shard, shards)
    return send_planned(
        reviewer, shard_slice(planned, shard, shards), where, part, refresh, budget_usd, origin
    )


@task(name="select-rationales", cache_key_fn=content_cache_key, persist_result=True)
def select(
    review: ReviewConfig, rationales: TableRef, review_calls: list[TableRef], where: RoundRef
) -> tuple[TableRef, TableRef]:
    """Parse the review scores and decide which rationales are accepted."""
    reviews = review_rows([row for ref in review_calls for row in ref.rows()])
    acceptance = select_rationales(
        rationales.rows(),
        reviews,
        threshold=review.threshold,
        min_valid=review.min_valid_scores,
        require_gold=review.gold_check,
        review_enabled=review.enabled,
    )
    store = where.store()
    store.write("reviews", reviews)
    store.write("acceptance", acceptance)
    accepted = sum(a["accepted"] for a in acceptance)
    task_logger().info("round %d: %d of %d rationales accepted", where.round, accepted, len(acceptance))
    return where.table("reviews"), where.table("acceptance")


def review_stage(
    config: FairConfig, where: RoundRef, train: TableRef, rationales: TableRef, refresh: bool = False
) -> TableRef:
    """Every teacher reviews the others' rationales (unless review is off); returns the acceptance table."""
    prompts = PromptsRef(config.prompts.template_dir, config.prompts.teacher_hint)
    review = with_retries(review_rationales, config, refresh)
    budget = config.run.budget_usd
    reviewers = config.teachers if config.review.enabled else []
    # each reviewer grades the other teachers' rationales: about (n-1)/n of them
    per_reviewer = len(rationales.rows()) * (len(reviewers) - 1) // max(1, len(reviewers))
    shards = shard_count(config, per_reviewer)
    origin = reply_origin(config)
    futures = [
        review.submit(t, train, rationales, prompts, where, refresh, budget, shard, shards, origin)
        for t in reviewers
        for shard in range(shards)
    ]
    _, acceptance = select(config.review, rationales, available(futures, "peer review"), where)
    return acceptance
