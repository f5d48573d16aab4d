"""The reviewer controls through the Prefect stages: k reviewers per rationale, authors named, the
aggregation rule, recorded in the round manifest; the paper's defaults send the same review requests."""

from __future__ import annotations

from collections import Counter

from fair_core.review_plan import assigned_reviewers
from fair_core.store import RunStore
from flows.deployed import student_inference, teacher_committee
from flows.pipeline import results_dir
from flows.simulation import simulated_teachers


def test_reviewer_controls_reach_the_review_stage(tiny_config) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(
        review={"reviewers_per_rationale": 1, "show_author": True, "aggregation": "majority"}
    )
    storage = results_dir(config)
    student_inference.with_options(result_storage=storage)(config, 0)
    with simulated_teachers(config) as (served, _):
        teacher_committee.with_options(result_storage=storage)(served, 0)
    store = RunStore(config.run.data_dir, config.run_id()).round(0)
    reviews = store.rows("reviews")
    rationales = [r for r in store.rows("rationales") if r["text"]]
    per_rationale = Counter((r["example_id"], r["author"]) for r in reviews)
    assert len(per_rationale) == len(rationales) and set(per_rationale.values()) == {1}
    names = [t.name for t in config.teachers]
    for r in reviews:
        assert r["reviewer"] != r["author"]
        assert [r["reviewer"]] == assigned_reviewers(r["example_id"], r["author"], names, 1)
    settings = store.manifest()["stages"]["select-rationales"]["settings"]
    assert (
        settings | {"aggregation": "majority", "reviewers_per_rationale": 1, "show_author": True} == settings
    )
    assert all("majority" in a["reason"] or "gold" in a["reason"] for a in store.rows("acceptance"))
