"""A tiny run started from the short form, read back through the Prefect API as the UI shows it: flow runs
named by the run id, task runs named by stage, teacher, role and shard with filterable tags, one keyed
progress artifact per task apart from the reports, and the parent run's logs and link artifact saying
where the results are."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.logging.handlers import APILogWorker

from fair_core.config import FairConfig
from flows.serving import short_form_defaults
from flows.short_form import run_fair
from tasks.results import report_path

pytestmark = pytest.mark.slow


async def _read(run_id: str, since: datetime) -> dict[str, Any]:
    """Flow runs, task runs, artifacts and the entry run's logs of a run started after `since` (other
    tests of the session run stage flows of the same tiny config), from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterTags,
    )
    from prefect.client.schemas.sorting import LogSort

    async with get_client() as client:
        flow_runs = [
            r
            for r in await client.read_flow_runs(limit=200)
            if r.name.startswith(run_id) and r.created is not None and r.created >= since
        ]
        ids = [r.id for r in flow_runs]
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200
        )
        failed_gem = await client.read_task_runs(  # what a user filters by in the UI (this run only)
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
            task_run_filter=TaskRunFilter(
                tags=TaskRunFilterTags(all_=[run_id, "teacher:gem", "role:rationale"])
            ),
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)), limit=200
        )
        names = {r.id: r.name for r in flow_runs}
        flows = {r.id: (await client.read_flow(r.flow_id)).name for r in flow_runs}
        (entry,) = [r for r in flow_runs if flows[r.id] == "run-fair"]
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[entry.id])), sort=LogSort.TIMESTAMP_ASC
        )
    return {
        "flows": {(flows[i], names[i]) for i in ids},
        "runs": flow_runs,
        "tasks": tasks,
        "gem": failed_gem,
        "artifacts": artifacts,
        "entry_logs": [
            log.message for log in logs if log.flow_run_id == entry.id and log.task_run_id is None
        ],
    }


def test_runs_read_well_in_the_prefect_ui(tiny_config) -> None:
    config: FairConfig = tiny_config(run={"teacher_task_size": 4}, student={"shards": 2})
    run_id = config.run_id()
    since = datetime.now(UTC)
    run_fair(**short_form_defaults(config))  # the short form that builds this very config
    seen = asyncio.run(_read(run_id, since))
    deadline = time.monotonic() + 30
    done = lambda: any(m.startswith("rebuild the report") for m in seen["entry_logs"])  # noqa: E731
    while not done() and time.monotonic() < deadline:  # logs reach the API in batches
        APILogWorker.drain_all(timeout=5)
        time.sleep(0.5)
        seen = asyncio.run(_read(run_id, since))

    assert seen["flows"] == {
        ("run-fair", run_id),
        ("fair-pipeline", run_id),
        ("fair-round", f"{run_id} round 0"),
    }
    (round_run,) = [r for r in seen["runs"] if r.name.endswith("round 0")]
    assert {run_id, "round:0"} <= set(round_run.tags)

    names = sorted(t.name for t in seen["tasks"])
    for expected in (
        "feedback gpt shard 1/2",
        "rationales gem shard 2/2",
        "reviews by mix shard 1/3",  # 12 reviews per reviewer, 4 per task
        "student answers shard 1/2",
        "baseline evaluation shard 2/2",
        "evaluation shard 1/2",
        "fine-tune round 0",
        "results of " + run_id,
    ):
        assert expected in names, names
    assert not [n for n in names if n.startswith("teacher-batch-")]
    rationale = next(t for t in seen["tasks"] if t.name == "rationales gem shard 2/2")
    assert {run_id, "round:0", "stage:teacher-committee", "teacher:gem", "role:rationale"} <= set(
        rationale.tags
    )
    review = next(t for t in seen["tasks"] if t.name == "reviews by mix shard 1/3")
    assert {"stage:peer-review", "teacher:mix", "role:review"} <= set(review.tags)
    assert sorted(t.name for t in seen["gem"]) == ["rationales gem shard 1/2", "rationales gem shard 2/2"]

    progress = [a for a in seen["artifacts"] if a.type == "progress"]
    keys = [a.key for a in progress]
    assert all(k and k.startswith(f"progress-{run_id}-round-0-".lower()) for k in keys), keys
    assert len({a.task_run_id for a in progress}) == len(set(keys))  # one key per task (updated in place)
    assert f"progress-{run_id}-round-0-rationale-gem-shard-002-of-002".lower() in keys
    reports = [a for a in seen["artifacts"] if a.type in ("markdown", "table")]
    assert f"fair-{run_id}-round-0-report".lower() in {a.key for a in reports}

    (link,) = [a for a in seen["artifacts"] if a.key == f"fair-{run_id}-report-link".lower()]
    assert link.type == "markdown"  # Prefect's link artifact: a markdown link
    report = report_path(config.run.data_dir, run_id)
    assert report.as_uri() in str(link.data) and report.is_file()

    logs = seen["entry_logs"]
    starts = [i for i, m in enumerate(logs) if m.startswith(f"results of run {run_id}: ")]
    assert starts, logs
    tail = logs[starts[-1] : starts[-1] + 4]
    assert tail[0].startswith(f"results of run {run_id}: ") and tail[1] == f"report: {report}"
    assert f"fair view {run_id} --data-dir {config.run.data_dir}" in tail[2]
    assert tail[3].endswith(f"fair report {run_id} --data-dir {config.run.data_dir}")
