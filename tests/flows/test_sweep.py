"""A sweep runs each variant once and shares what they have in common: round 0's student answers are
computed once for the whole sweep, every teacher request is sent once, each training variant trains."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterStartTime

from fair_core.config.sweep import SweepConfig, VariantSpec
from fair_core.store import RunStore
from flows.pipeline import run_pipeline
from flows.sweep import run_sweep
from tasks.sweep import sweep_dir

#: What the student-answers task runs are called: the training split, the baseline, each evaluation.
ANSWERS = ("student answers", "baseline evaluation", "evaluation")


def completed_task_runs(names: tuple[str, ...], since: datetime) -> int:
    """Task runs named one of `names`, with or without a shard suffix (tasks/naming.py), that really ran
    (Completed, not Cached) since `since`."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(start_time=TaskRunFilterStartTime(after_=since))
        )

    def named(name: str) -> bool:
        return any(name == n or name.startswith(f"{n} shard ") for n in names)

    return sum(1 for r in runs if named(r.name) and r.state_name == "Completed")


def test_a_sweep_of_n_training_variants_trains_n_times_and_answers_round0_once(
    tiny_config, torch_single_thread, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    config = tiny_config(evaluation={"baseline": True})
    sweep = SweepConfig(
        variants=[
            VariantSpec(label="alpha-0.3", set={"training.alpha": 0.3}),
            VariantSpec(label="all-rationales", set={"training.rationales_per_question": "all"}),
        ]
    )
    since = datetime.now(UTC)
    done = run_sweep(config, sweep)
    n = len(done.variants)
    assert n == 2 and len({v.run_id for v in done.variants}) == 2

    # the student answered the training split once and the test split once before training (baseline),
    # then each trained student answered the test split: 2 + n answer tasks, not 3 n
    assert completed_task_runs(ANSWERS, since) == 2 + n
    assert completed_task_runs(("fine-tune round 0",), since) == n
    donor = done.variants[0].run_id
    for v in done.variants:
        store = RunStore(config.run.data_dir, v.run_id).round(0)
        assert store.manifest()["starts"] == {"fine-tune": 1}
        assert (store.path / "student" / "model").is_dir()
        if v.run_id != donor:
            assert store.manifest()["shared_round0"]["run_id"] == donor
            assert store.rows("mistakes") == RunStore(config.run.data_dir, donor).round(0).rows("mistakes")
        record = json.loads((RunStore(config.run.data_dir, v.run_id).root / "sweep.json").read_text())
        assert record["label"] == v.label

    # one run of the base config alone (an empty cache) sends as many requests as the whole sweep
    alone = {"name": "tiny", "data_dir": str(tmp_path / "alone")}  # its own reply cache
    single = run_pipeline(tiny_config(run=alone, evaluation={"baseline": True}))
    assert done.simulator_requests is not None and single.simulator_requests is not None
    assert done.simulator_requests == single.simulator_requests > 0

    report = Path(done.result["report"])
    assert report == sweep_dir(config.run.data_dir, done.result["sweep"]) / "report.html"
    html = report.read_text()
    assert all(v.label in html for v in done.variants)

    again = run_sweep(config, sweep)  # a rerun: everything from the caches, nothing sent
    assert again.simulator_requests == 0
