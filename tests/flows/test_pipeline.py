"""The Prefect flows end to end on a tiny student and the simulator: tables, caching, resume, a bad key."""

from __future__ import annotations

from fair_core.store import RunStore
from flows.pipeline import fair_pipeline
from flows.simulation import simulated_teachers

ROUND_TABLES = [
    "examples",
    "test_examples",
    "student_outputs",
    "mistakes",
    "teacher_calls",
    "feedback",
    "rationales",
    "reviews",
    "acceptance",
    "training_samples",
    "evaluation",
]


def test_two_rounds_write_every_table_and_rerun_sends_nothing(tiny_config) -> None:
    config = tiny_config(run={"rounds": 2})
    with simulated_teachers(config) as (effective, simulator):
        summaries = fair_pipeline(effective)
        sent = simulator.stats["requests"]
        assert sent > 0
        again = fair_pipeline(effective)
        assert simulator.stats["requests"] == sent, "a rerun must be served from the caches"
    assert [s["round"] for s in summaries] == [0, 1]
    assert again == summaries
    run = RunStore(config.run.data_dir, config.run_id())
    assert run.rounds() == [0, 1]
    for k in (0, 1):
        store = run.round(k)
        for table in ROUND_TABLES:
            assert store.exists(table), f"round {k} has no {table} table"
        manifest = store.manifest()
        assert manifest["config_hash"] == config.config_hash()
        assert set(ROUND_TABLES) <= {name.split("/")[0] for name in manifest["tables"]}
        assert manifest["summary"]["mistakes"] == len(store.rows("mistakes"))
    assert run.round(0).exists("baseline_evaluation")
    # round 1 starts from round 0's adapter
    assert summaries[1]["student"].endswith("@round1")
    assert (run.round(0).path / "student" / "model" / "adapter_config.json").is_file()


def test_unavailable_teacher_leaves_the_round_to_the_others(tiny_config, caplog) -> None:
    config = tiny_config()
    with simulated_teachers(config) as (effective, simulator):
        simulator.state.required_key = "the-right-key"  # every teacher sends the wrong one ...
        teachers = [
            t.model_copy(update={"api_key_env": "FAIR_TEST_GOOD_KEY"}) if t.name != "gem" else t
            for t in effective.teachers
        ]
        import os

        os.environ["FAIR_TEST_GOOD_KEY"] = "the-right-key"  # ... except the two that use this variable
        try:
            summaries = fair_pipeline(effective.model_copy(update={"teachers": teachers}))
        finally:
            del os.environ["FAIR_TEST_GOOD_KEY"]
    summary = summaries[0]
    assert summary["accepted_gem"] == 0
    assert summary["rationales_accepted"] > 0
    assert any(
        "teacher 'gem'" in r.getMessage() and "other teachers" in r.getMessage() for r in caplog.records
    )
    assert "the-right-key" not in caplog.text
