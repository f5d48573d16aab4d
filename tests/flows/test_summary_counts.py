"""The round summary's call counts agree with the teacher_calls table and with what the simulator received."""

from __future__ import annotations

from collections import Counter

from fair_core.store import RunStore
from flows.pipeline import run_pipeline


def test_summary_counts_match_the_calls_table_and_the_simulator(tiny_config) -> None:
    config = tiny_config(run={"rounds": 2})
    result = run_pipeline(config)
    assert [s["round"] for s in result.summaries] == [0, 1]
    run = RunStore(config.run.data_dir, config.run_id())
    for summary in result.summaries:
        calls = run.round(summary["round"]).rows("teacher_calls")
        modes = Counter(c["mode"] for c in calls)
        assert summary["requests_sent"] + summary["from_cache"] == summary["teacher_calls"] == len(calls)
        assert summary["from_cache"] == modes["cache"]
        assert summary["requests_sent"] == modes["online"] + modes["batch"]
        assert summary["failed_calls"] == sum(c["status"] in ("error", "fatal") for c in calls)
        assert "cache_hits" not in summary and "cache_misses" not in summary
    # round 0 repeats requests inside the run, round 1 asks some of round 0's again: both from the cache
    assert all(s["from_cache"] > 0 for s in result.summaries)
    assert result.simulator_requests is not None and result.simulator_requests > 0
    assert sum(s["requests_sent"] for s in result.summaries) == result.simulator_requests
