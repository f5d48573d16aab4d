"""The `fair-sweep` Prefect flow: the variants of a sweep (ablations x varied settings x seeds) as one
subflow each, round 0's student answers computed once per group of runs that share them, every teacher
request shared through the reply cache; then the comparison report. `run_sweep` runs it from Python or
the CLI (preflight, the runs' locks, the offline simulator)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from fair_core.config import FairConfig
from fair_core.config.sweep import SweepConfig
from fair_core.locks import run_lock
from fair_core.refs import RoundRef
from fair_core.report.summary import summary_rate
from fair_core.stats import format_rate
from fair_core.sweep import Variant, expand_sweep, reference_label, sweep_id
from flows.pipeline import results_dir
from flows.preflight import preflight
from flows.round import round_ref, starting_student
from flows.simulation import simulated_teachers
from tasks.evaluation import baseline_stage
from tasks.inference import inference_stage, percent
from tasks.naming import run_flow_name
from tasks.sharing import round0_identity
from tasks.sweep import record_variants, run_variant, sweep_dir, sweep_report


class SweepIncomplete(RuntimeError):
    """Some variants failed; the others finished and are in the report. Rerun to finish the rest."""


@flow(name="shared-round-0", flow_run_name=run_flow_name(" shared round 0"), log_prints=True)
def shared_round0(config: FairConfig) -> RoundRef:
    """Round 0's baseline evaluation and student answers, once for every run of the sweep that shares them
    (computed in this run's folder; the others adopt the tables)."""
    where = round_ref(config, 0)
    student = starting_student(config, 0)
    baseline_stage(config, where, student)
    inference_stage(config, where, student)
    return where


def shared_rounds(variants: Sequence[Variant]) -> dict[str, RoundRef]:
    """Inside the sweep flow: round 0's answers for each group of variants that share them, by run id."""
    donors: dict[str, Variant] = {}
    for v in variants:
        donors.setdefault(round0_identity(v.config), v)
    done = {
        key: shared_round0.with_options(result_storage=results_dir(d.config))(d.config)
        for key, d in donors.items()
    }
    return {v.run_id: done[round0_identity(v.config)] for v in variants}


@flow(name="fair-sweep", flow_run_name="sweep {sweep.name}", log_prints=True)
def fair_sweep(config: FairConfig, sweep: SweepConfig, refresh: bool = False) -> dict[str, Any]:
    """Run every variant of `sweep` over the base `config`; the report compares them.

    Args:
        config: The base FAIR config (every variant changes only what its label says).
        sweep: The variants: a built-in ablation, explicit variants, varied settings, seeds.
        refresh: Ask every teacher request again (no reply cache).
    """
    variants = expand_sweep(config, sweep)
    name = sweep_id(config, sweep, variants)
    reference = reference_label(sweep, variants)
    record_variants(config.run.data_dir, name, variants, reference)
    print(f"sweep {name}: {len(variants)} runs, reference {reference!r}")
    shared = shared_rounds(variants)
    futures = [run_variant.submit(v, v.label, v.seed, refresh, shared[v.run_id]) for v in variants]
    summaries: dict[str, list[dict]] = {}
    failed: list[str] = []
    for i, (v, future) in enumerate(zip(variants, futures, strict=True), 1):
        future.wait()
        if future.state.is_completed():
            summaries[v.run_id] = future.result()
            last = summaries[v.run_id][-1] if summaries[v.run_id] else {}
            print(
                f"sweep {name}: run {i}/{len(variants)} done: {v.label}{_seed(v)} ({v.run_id}), "
                f"test accuracy {accuracy_text(last)}"
            )
        else:
            failed.append(f"{v.label}{_seed(v)} ({v.run_id}): {future.state.message or future.state.name}")
    finished = [v for v in variants if v.run_id in summaries]
    report = sweep_report(config.run.data_dir, name, finished, reference) if finished else None
    if failed:
        raise SweepIncomplete(
            f"sweep {name}: {len(failed)} of {len(variants)} runs failed ({'; '.join(failed)}); the others "
            "are in the report; rerun the same command: finished stages and teacher replies are reused"
        )
    return {
        "sweep": name,
        "report": report,
        "runs": {v.run_id: v.label for v in variants},
        "summaries": summaries,
    }


def _seed(variant: Variant) -> str:
    return "" if variant.seed is None else f" seed {variant.seed}"


def accuracy_text(summary: dict[str, Any]) -> str:
    """A round's test accuracy after training with n and interval (the rate alone for older summaries)."""
    rate = summary_rate(summary, "test_accuracy_after") if summary else None
    return format_rate(rate) if rate is not None else percent(summary.get("test_accuracy_after"))


@dataclass
class SweepRun:
    """The sweep flow's result, its variants and what the simulator received (None: real providers)."""

    result: dict[str, Any]
    variants: list[Variant]
    simulator_requests: int | None = None

    @property
    def report(self) -> Path | None:
        return Path(self.result["report"]) if self.result.get("report") else None


@contextmanager
def run_locks(data_dir: str, variants: Sequence[Variant], wait: bool = False) -> Iterator[None]:
    """Every run's lock for the block (`RunLocked` naming the first held elsewhere; `wait`: until free)."""
    with ExitStack() as stack:
        for run_id in dict.fromkeys(v.run_id for v in variants):
            stack.enter_context(run_lock(data_dir, run_id, wait=wait))
        yield


def run_sweep(
    config: FairConfig, sweep: SweepConfig, refresh: bool = False, wait: bool = False, checked: bool = False
) -> SweepRun:
    """Check every variant (`preflight`, unless `checked`), take every run's lock, serve the simulated
    teachers once for the whole sweep if configured, and run the `fair-sweep` flow."""
    variants = expand_sweep(config, sweep)  # a bad variant fails here, before any work
    if not checked:
        preflight(config)
        for v in variants:
            preflight(v.config)
    flow_ = fair_sweep.with_options(task_runner=ThreadPoolTaskRunner(max_workers=sweep.parallel))
    with run_locks(config.run.data_dir, variants, wait), simulated_teachers(config) as (served, simulator):
        named = sweep.model_copy(update={"name": sweep_id(config, sweep, variants)})
        result = flow_(served, named, refresh)
        return SweepRun(result, variants, simulator.stats["requests"] if simulator else None)


__all__ = ["SweepIncomplete", "SweepRun", "fair_sweep", "run_sweep", "sweep_dir"]
