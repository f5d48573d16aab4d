"""Run the pipeline from Python or the CLI: pre-flight checks, the offline simulator when asked, Prefect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.config import FairConfig
from fair_core.teachers.keys import MissingAPIKeyError, resolve_api_key

#: The simulator accepts any key; the demo config names this variable so no real key is ever needed.
SIMULATOR_KEY_ENV = "FAIR_SIMULATOR_API_KEY"
PRESETS_DIR = Path(__file__).resolve().parents[1] / "configs"


def preset_path(name: str) -> Path:
    """`configs/<name>.yaml` of this checkout."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no preset {name!r} in {PRESETS_DIR} (known: {', '.join(known)})")
    return path


def prefect_defaults() -> None:
    """Offline-friendly Prefect settings, unless the user set them (call before importing prefect)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def check_keys(config: FairConfig) -> None:
    """Fail before any work when a teacher's key is missing (Secret blocks are checked in the flow)."""
    if config.simulator.enabled:
        return
    for teacher in config.teachers:
        if not teacher.api_key_secret:
            resolve_api_key(teacher)


@dataclass
class PipelineRun:
    """Round summaries, and how many requests the simulator received (None: real providers)."""

    summaries: list[dict[str, Any]]
    simulator_requests: int | None = None


def simulator_base_url(simulator: Any, provider: str) -> str:
    """Where a provider's client finds the simulator: OpenAI at /v1, Gemini at the root, Mistral under
    /mistral (its wire is mounted there, as its SDK posts to /v1/chat/completions like OpenAI's)."""
    if provider == "gemini":
        return simulator.url
    if provider == "mistral":
        return f"{simulator.url}/mistral"
    return simulator.base_url


#: Simulators serving a run in this process (run id -> effective config and simulator): a flow started
#: inside `simulated_teachers` (the CLI) reuses the running one instead of starting a second.
_ACTIVE: dict[str, tuple[FairConfig, Any]] = {}


def simulator_attempt(config: FairConfig) -> int:
    """Count the simulator's starts for this run (1 on the first attempt), kept beside the run's tables."""
    from fair_core.store import RunStore

    path = RunStore(config.run.data_dir, config.run_id()).root / "simulator_attempts"
    path.parent.mkdir(parents=True, exist_ok=True)
    attempt = (int(path.read_text() or 0) if path.is_file() else 0) + 1
    path.write_text(str(attempt))
    return attempt


def fault_drill(config: FairConfig) -> Any:
    """`simulator.fail_teacher`: every request to that teacher answers HTTP 500 during the run's first
    `simulator.fail_attempts` attempts (a provider outage, to rehearse failure and resume)."""
    sim = config.simulator
    if not sim.fail_teacher or simulator_attempt(config) > sim.fail_attempts:
        return None
    from fair_core.teachers.simulator.faults import FaultPlan

    model = next(t.model for t in config.teachers if t.name == sim.fail_teacher)
    plan = FaultPlan(record=False)
    plan.fail_model(model, "server_error")
    return plan


def served_config(config: FairConfig, simulator: Any) -> FairConfig:
    """The config with every teacher pointed at the simulator (its base URL, the simulator's key)."""
    update = {"api_key_env": SIMULATOR_KEY_ENV, "api_key_secret": None}
    teachers = [
        t.model_copy(update={"base_url": simulator_base_url(simulator, t.provider), **update})
        for t in config.teachers
    ]
    return config.model_copy(update={"teachers": teachers})


@contextmanager
def simulated_teachers(config: FairConfig) -> Iterator[tuple[FairConfig, Any]]:
    """When `simulator.enabled`, serve every teacher from a local simulator on a free port."""
    if not config.simulator.enabled:
        yield config, None
        return
    run_id = config.run_id()
    if run_id in _ACTIVE:  # the caller (the CLI, a test) already serves this run: reuse its simulator
        simulator = _ACTIVE[run_id][1]
        pointed = all(t.base_url for t in config.teachers)  # the caller's own settings win
        yield (config if pointed else served_config(config, simulator)), simulator
        return
    from fair_core.datasets import load_examples
    from fair_core.teachers.simulator import start_simulator

    examples = []
    for split in (config.dataset.train_split, config.dataset.test_split):
        examples += load_examples(config.dataset, split).examples
    os.environ.setdefault(SIMULATOR_KEY_ENV, "simulator-key")
    with start_simulator(examples, config.simulator, faults=fault_drill(config)) as simulator:
        _ACTIVE[run_id] = (served_config(config, simulator), simulator)
        try:
            yield _ACTIVE[run_id]
        finally:
            _ACTIVE.pop(run_id, None)


def run_pipeline(config: FairConfig, refresh: bool = False) -> PipelineRun:
    """Check keys, start the simulator if configured, run the `fair-pipeline` flow (`refresh`: re-ask
    every teacher request)."""
    check_keys(config)
    prefect_defaults()
    from flows.pipeline import fair_pipeline

    with simulated_teachers(config) as (effective, simulator):
        summaries = fair_pipeline(effective, refresh)
        return PipelineRun(summaries, simulator.stats["requests"] if simulator else None)


__all__ = [
    "MissingAPIKeyError",
    "PipelineRun",
    "check_keys",
    "preset_path",
    "run_pipeline",
    "simulated_teachers",
    "simulator_base_url",
]
