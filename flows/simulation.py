"""The offline teacher simulator around a run: `with simulated_teachers(config) as (served, simulator):`.

Entered once, by the entry point of a run (the CLI's `run_pipeline`, a deployment's entry flow or a
test); the flows inside receive the served config, whose teachers point at the simulator. Simulated
replies are cached under request keys carrying `fair_core.identity.reply_origin(config)` (the settings that
shape them), so a real teacher or a differently set up simulator never gets them back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fair_core.config import FairConfig
from fair_core.store import RunStore
from fair_core.store.parquet import atomic_write_bytes

#: The simulator accepts any key; the served config names this variable so no real key is ever needed.
SIMULATOR_KEY_ENV = "FAIR_SIMULATOR_API_KEY"


def simulator_base_url(simulator: Any, provider: str) -> str:
    """Where a provider's client finds the simulator: OpenAI at /v1, Gemini at the root, Mistral under
    /mistral (its wire is mounted there, as its SDK posts to /v1/chat/completions like OpenAI's)."""
    if provider == "gemini":
        return simulator.url
    if provider == "mistral":
        return f"{simulator.url}/mistral"
    return simulator.base_url


def simulator_attempt(config: FairConfig) -> int:
    """Count the simulator's starts for this run (1 on the first attempt), kept beside the run's tables."""
    path = RunStore(config.run.data_dir, config.run_id()).root / "simulator_attempts"
    attempt = (int(path.read_text() or 0) if path.is_file() else 0) + 1
    atomic_write_bytes(path, str(attempt).encode())
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


def simulator_examples(config: FairConfig) -> list[Any]:
    """The questions the simulator answers for this config: its train and test splits."""
    from fair_core.datasets import load_examples

    examples: list[Any] = []
    for split in (config.dataset.train_split, config.dataset.test_split):
        examples += load_examples(config.dataset, split, report=False).examples  # prepare-examples reports
    return examples


@contextmanager
def simulated_teachers(config: FairConfig, **options: Any) -> Iterator[tuple[FairConfig, Any]]:
    """With `simulator.enabled`, serve every teacher from a local simulator on a free port and yield the
    served config and the simulator; else yield the config as it is and None. `options` go to
    `start_simulator` (e.g. extra wire protocols in tests)."""
    if not config.simulator.enabled:
        yield config, None
        return
    from fair_core.teachers.simulator.server import start_simulator, teacher_protocols

    examples = simulator_examples(config)
    os.environ.setdefault(SIMULATOR_KEY_ENV, "simulator-key")
    options.setdefault("providers", teacher_protocols(config.teachers))  # one it cannot serve: an error
    by_name = {t.name: t.model for t in config.teachers}
    rates = {by_name[name]: rate for name, rate in config.simulator.wrong_rates.items()}
    if rates:
        options.setdefault("wrong_rates", rates)
    with start_simulator(examples, config.simulator, faults=fault_drill(config), **options) as simulator:
        yield served_config(config, simulator), simulator
