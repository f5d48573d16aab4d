"""Stage 3, peer review, as Prefect tasks: each teacher scores the others' rationales 1-5 (one task per
reviewer x shard; `review.reviewers_per_rationale` / `show_author`: the review plan), then the scores are
parsed, combined (`review.aggregation`) and each rationale is accepted or rejected; the settings go to
the round manifest (stage `select-rationales`).

`review_stage` composes them (a flow calls it).
"""

from __future__ import annotations

from prefect import task

from fair_core.config import FairConfig, ReviewConfig, TeacherConfig
from fair_core.config.cache import without_password
from fair_core.identity import reply_origin
from fair_core.records import examples_by_id
from fair_core.refs import PromptsRef, RoundRef, TableRef
from fair_core.review import plan_reviews, review_rows, reviewer_reliability, select_rationales
from fair_core.review_plan import ReviewPlan, review_plan, review_settings
from fair_core.shards import shard_part, shard_slice
from tasks.caching import content_cache_key
from tasks.logs import task_logger
from tasks.naming import review_batch_name, round_task_name, tagged
from tasks.teachers import (
    available,
    send_planned,
    shard_count,
    teacher_task,
    with_retries,
)


@teacher_task("review-batch", review_batch_name)
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
    plan: ReviewPlan | None = None,
    cache_url: str = "",
) -> TableRef:
    """One teacher grades every other teacher's rationale 1-5 (shard `shard` of `shards`; `refresh`,
    `budget_usd` and `origin` as in the committee's `ask_teacher`); with a `plan` (reviewer controls),
    only the rationales it is assigned to, naming their authors when the plan does."""
    planned = plan_reviews(reviewer, examples_by_id(examples.rows()), rationales.rows(), prompts.load(), plan)
    part = shard_part(f"review-{reviewer.name}", shard, shards)
    return send_planned(
        reviewer, shard_slice(planned, shard, shards), where, part, refresh, budget_usd, origin, cache_url
    )


@task(
    name="select-rationales",
    task_run_name=round_task_name("select rationales"),
    cache_key_fn=content_cache_key,
    persist_result=True,
)
def select(
    review: ReviewConfig, rationales: TableRef, review_calls: list[TableRef], where: RoundRef
) -> tuple[TableRef, TableRef]:
    """Parse the review scores and decide which rationales are accepted."""
    reviews = review_rows([row for ref in review_calls for row in ref.rows()])
    rationale_rows = rationales.rows()
    acceptance = select_rationales(
        rationale_rows,
        reviews,
        threshold=review.threshold,
        min_valid=review.min_valid_scores,
        require_gold=review.gold_check,
        review_enabled=review.enabled,
        aggregation=review.aggregation,
    )
    store = where.store()
    store.write("reviews", reviews)
    store.write("acceptance", acceptance)
    extra: dict = {"settings": review_settings(review)}
    if review.aggregation == "weighted":
        reliability = reviewer_reliability(rationale_rows, reviews, review.threshold)
        extra["reliability"] = {n: vars(r) for n, r in reliability.items()}
    inputs = {
        r.name if r.part is None else f"{r.name}/{r.part}": r.fingerprint()["sha256"] for r in review_calls
    }
    inputs["rationales"] = rationales.fingerprint()["sha256"]
    store.record_stage("select-rationales", inputs=inputs, outputs=["reviews", "acceptance"], extra=extra)
    accepted = sum(a["accepted"] for a in acceptance)
    task_logger().info(
        "round %d: %d of %d rationales accepted (%s)",
        where.round,
        accepted,
        len(acceptance),
        review.aggregation,
    )
    return where.table("reviews"), where.table("acceptance")


def review_stage(
    config: FairConfig, where: RoundRef, train: TableRef, rationales: TableRef, refresh: bool = False
) -> TableRef:
    """Every teacher reviews the others' rationales (unless review is off); returns the acceptance table."""
    prompts = PromptsRef(config.prompts.template_dir, config.prompts.teacher_hint)
    review = with_retries(review_rationales, config, refresh)
    budget = config.run.budget_usd
    reviewers = config.teachers if config.review.enabled else []
    plan = review_plan(config.review, config.teachers)
    # each reviewer grades the other teachers' rationales: about (n-1)/n of them (k/n with k per rationale)
    per_rationale = config.review.reviewers_per_rationale or len(reviewers) - 1
    per_reviewer = len(rationales.rows()) * per_rationale // max(1, len(reviewers))
    shards = shard_count(config, per_reviewer)
    origin = reply_origin(config)
    cache = without_password(config.cache.url)
    futures = [
        tagged(review, where, "peer-review", teacher=t.name, role="review").submit(
            t, train, rationales, prompts, where, refresh, budget, shard, shards, origin, plan, cache
        )
        for t in reviewers
        for shard in range(shards)
    ]
    selected = tagged(select, where, "peer-review")
    _, acceptance = selected(config.review, rationales, available(futures, "peer review"), where)
    return acceptance
