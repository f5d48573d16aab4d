"""Serve the FAIR deployments with their triggers and schedule (`fair serve`); a local server (`fair up`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fair_core.config import FairConfig
from flows.embedded import api_healthy, die_with_parent, free_port, stop_child
from tasks.events import CHAIN_LABEL, ROUND_COMPLETED, STUDENT_READY

DESCRIPTIONS = {
    "fair-run": "A FAIR run from a preset: dataset, student, teachers, rounds, budget; more under advanced.",
    "fair-demo": "The offline demo: the demo preset with simulated teachers (no API key, no cost).",
    "fair-pipeline": "All rounds of a FAIR run, the whole config as a form (resumes from cached stages).",
    "fair-round": "One FAIR round; started by fair.round.completed (chain) and fair.student.ready events.",
    "fair-student-inference": "Stage 1 of a round alone: the student answers the training split.",
    "fair-teacher-committee": "Stage 2 alone: teacher feedback, rationales and peer review of the mistakes.",
    "fair-training": "Stage 3 alone: the training set and LoRA (or full) fine-tuning of the student.",
    "fair-evaluation": "Stage 4 alone: the trained student on the test split.",
    "fair-sweep": "A sweep of variants (ablations, varied settings, seeds) compared with intervals.",
}
#: The short-form deployments (flow `run-fair`, flows/short_form.py); the others take the whole config.
SHORT_FORMS = ("fair-run", "fair-demo")
#: The preset behind the forms when `fair serve` / `fair up` get no --config: real teachers everywhere
#: but in fair-demo, so a form whose teachers are edited never gets simulated answers.
DEMO_PRESET = "demo"


def config_diff(base: Any, target: Any) -> Any:
    """What `target` (a config mapping) changes from `base`: mappings key by key, anything else whole."""
    if isinstance(base, dict) and isinstance(target, dict):
        out = {}
        for key, value in target.items():
            changed = config_diff(base.get(key), value) if isinstance(value, dict) else value
            if (isinstance(value, dict) and changed) or (
                not isinstance(value, dict) and base.get(key) != value
            ):
                out[key] = changed
        return out
    return target


def short_form_defaults(config: FairConfig, preset: str | None = None) -> dict[str, Any]:
    """The short form that builds `config`: `preset` (default: the nearest run preset) and what `config`
    changes from it."""
    from fair_core.config import list_presets, load_config
    from flows.short_form import is_sweep_preset

    target = config.model_dump(mode="json")
    options = []
    for name in [preset] if preset else list_presets():
        if is_sweep_preset(name):
            continue  # a sweep's base is not what a run form starts from
        diff = config_diff(load_config(name).model_dump(mode="json"), target)
        options.append((len(json.dumps(diff)), name, diff))
    _, preset, advanced = min(options)
    return {"preset": preset, "advanced": advanced}


def form_defaults(name: str, config: FairConfig | None) -> dict[str, Any]:
    """A deployment's parameter defaults. Without a served config: fair-demo starts from the demo preset
    (simulated teachers), every other form from `current-svamp` (real providers, a $20 budget). With one:
    every form from it, except fair-demo when it does not enable the simulator."""
    from fair_core.config import load_config
    from flows.short_form import RUN_PRESET

    if name == "fair-demo":
        if config and config.simulator.enabled:
            return short_form_defaults(config, DEMO_PRESET)
        return {"preset": DEMO_PRESET}
    if name == "fair-run":
        return short_form_defaults(config) if config else {"preset": RUN_PRESET}
    return {"config": form_config(config or load_config(RUN_PRESET))}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def form_config(config: FairConfig) -> dict[str, Any]:
    """`config` as a form default: without its empty (null) values when they are the fields' defaults,
    as the deployment API validates defaults against the form's plain (non-null) inputs, and with
    `student.chat_template` as the word its form choice shows."""
    from fair_core.config import parse_config
    from fair_core.config.student import CHAT_TEMPLATE_WORDS

    data = config.model_dump(mode="json")
    words = {value: word for word, value in CHAT_TEMPLATE_WORDS.items()}
    data["student"]["chat_template"] = words[config.student.chat_template]  # the form's choice
    pruned = _without_nulls(data)
    return pruned if parse_config(pruned) == config else data


def simulator_note(config: FairConfig | None) -> str | None:
    """What `fair serve` says when the served config enables the simulator outside the demo."""
    if config is None or not config.simulator.enabled:
        return None
    return (
        "warning: this config enables the simulator (simulator.enabled: true): every deployment's form "
        "defaults to simulated teachers, and runs outside fair-demo log a SIMULATED TEACHERS warning; "
        "serve a config with simulator.enabled: false for real providers"
    )


def round_triggers() -> list[Any]:
    """The round deployment's triggers: the next round of a chained run, and a registered student."""
    from prefect.events import DeploymentEventTrigger

    return [
        DeploymentEventTrigger(
            name="fair: next round when a chained round completes",
            expect={ROUND_COMPLETED},
            match={CHAIN_LABEL: "next"},
            parameters={
                "config": "{{ event.payload.config }}",
                "round_index": "{{ event.payload.next_round }}",
                "chain": True,
            },
        ),
        DeploymentEventTrigger(
            name="fair: a round from a newly registered student",
            expect={STUDENT_READY},
            parameters={
                "config": "{{ event.payload.config }}",
                "round_index": "{{ event.payload.round }}",
                "student_path": "{{ event.payload.model_path }}",
                "chain": "{{ event.payload.chain }}",
            },
        ),
    ]


def build_deployments(
    config: FairConfig | None = None, cron: str | None = None, only: list[str] | None = None
) -> list[Any]:
    """One runner deployment per entry flow (the short form twice: fair-run and fair-demo); `config`
    fills the parameter forms' defaults (`form_defaults`). `cron` schedules the round deployment (each
    run does the first unfinished round of the run)."""
    from flows.deployed import ENTRY_FLOWS

    unknown = sorted(set(only or []) - set(ENTRY_FLOWS))
    if unknown:
        raise ValueError(f"unknown deployments {unknown}; known: {sorted(ENTRY_FLOWS)}")
    deployments = []
    for name, entry in ENTRY_FLOWS.items():
        if only and name not in only:
            continue
        options: dict[str, Any] = {
            "name": name,
            "parameters": form_defaults(name, config),
            "description": DESCRIPTIONS[name],
            "tags": ["fair"],
        }
        if name == "fair-round":
            options["triggers"] = round_triggers()
            if cron:
                options["cron"] = cron
        deployments.append(entry.to_deployment(**options))
    return deployments


def serve_deployments(
    config: FairConfig | None = None, cron: str | None = None, limit: int | None = None
) -> None:
    """Register the deployments with the Prefect API and run their flow runs in subprocesses (blocks)."""
    from prefect import serve

    note = simulator_note(config)
    if note:
        print(note, file=sys.stderr)
    serve(*build_deployments(config, cron), limit=limit, print_starting_message=True)


@contextmanager
def prefect_server(
    port: int | None = None, home: Path | None = None, log_path: Path | None = None, timeout_s: float = 180
) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 (UI included) until the block ends; yields the API URL."""
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env["PREFECT_UI_API_URL"] = api_url
    env.pop("PREFECT_API_URL", None)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below

    process = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(os.getpid()),  # ended by the kernel if we die
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not api_healthy(api_url):
            if process.poll() is not None:
                raise RuntimeError(f"prefect server exited with code {process.returncode} (log: {log_path})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server not healthy after {timeout_s:.0f} s (log: {log_path})")
            time.sleep(0.5)
        yield api_url
    finally:
        stop_child(process, grace_s=20)
        if log_path:
            log.close()  # type: ignore[union-attr]
