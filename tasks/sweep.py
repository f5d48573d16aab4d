"""Prefect tasks of a sweep: a variant's whole run as a subflow (so variants can run at once), and the
sweep's report (HTML file and markdown artifact)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from fair_core.refs import RoundRef
from fair_core.store import RunStore
from fair_core.sweep import Variant
from tasks.logs import task_logger

#: Beside a run's config: which sweep ran it, under what label and seed (read by `fair compare`).
RUN_RECORD = "sweep.json"


def sweep_dir(data_dir: str | Path, sweep_id: str) -> Path:
    """Where a sweep keeps its record and report: `<data_dir>/sweeps/<sweep id>/`."""
    return Path(data_dir).expanduser().resolve() / "sweeps" / sweep_id


def record_variants(data_dir: str | Path, sweep_id: str, variants: list[Variant], reference: str) -> Path:
    """`sweep.json` in the sweep's folder (every variant) and in each run's folder (its own entry)."""
    folder = sweep_dir(data_dir, sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [v.record(sweep_id) for v in variants]
    (folder / RUN_RECORD).write_text(
        json.dumps({"sweep": sweep_id, "reference": reference, "variants": rows}, indent=2)
    )
    for variant, row in zip(variants, rows, strict=True):
        root = RunStore(data_dir, variant.run_id).root
        root.mkdir(parents=True, exist_ok=True)
        (root / RUN_RECORD).write_text(json.dumps(row, indent=2))
    return folder / RUN_RECORD


@task(name="run-variant", task_run_name="variant {label} seed {seed}", cache_policy=NO_CACHE)
def run_variant(
    variant: Variant, label: str, seed: int | None, refresh: bool, shared: RoundRef
) -> list[dict]:
    """One variant's run (the `fair-pipeline` flow, as a subflow); its stages keep their own caches."""
    from flows.pipeline import fair_pipeline, results_dir

    name = f"{label}" + (f" seed {seed}" if seed is not None else "")
    flow = fair_pipeline.with_options(
        flow_run_name=f"{variant.run_id} ({name})", result_storage=results_dir(variant.config)
    )
    return flow(variant.config, refresh, shared)


def compare_variants(variants: list[Variant]) -> list[Any]:
    """The sweep's variants as `fair_core.report.compare.Variant`s."""
    from fair_core.report.compare import Variant as Compared

    return [Compared(v.label, v.run_id, v.seed, dict(v.meta)) for v in variants]


def sweep_report(data_dir: str, sweep_id: str, variants: list[Variant], reference: str) -> str:
    """Inside the sweep flow: the comparison of the finished runs as `report.html` in the sweep's folder,
    a table artifact and a markdown artifact with the plots; returns the page's path."""
    from tasks.report import publish_comparison

    out = sweep_dir(data_dir, sweep_id) / "report.html"
    publish_comparison(
        data_dir, compare_variants(variants), str(out), reference, key=f"fair-sweep-{sweep_id}"
    )
    task_logger().info("sweep %s: report %s", sweep_id, out)
    return str(out)
