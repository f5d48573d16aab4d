"""Serve the FAIR deployments with their triggers and schedule (`fair serve`); a local server (`fair up`)."""

from __future__ import annotations

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
    "fair-pipeline": "All rounds of a FAIR run (resumes: finished stages and teacher replies are cached).",
    "fair-round": "One FAIR round; started by fair.round.completed (chain) and fair.student.ready events.",
    "fair-student-inference": "Stage 1 of a round alone: the student answers the training split.",
    "fair-teacher-committee": "Stage 2 alone: teacher feedback, rationales and peer review of the mistakes.",
    "fair-training": "Stage 3 alone: the training set and LoRA (or full) fine-tuning of the student.",
    "fair-evaluation": "Stage 4 alone: the trained student on the test split.",
    "fair-sweep": "A sweep of variants (ablations, varied settings, seeds) compared with intervals.",
}


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
    config: FairConfig, cron: str | None = None, only: list[str] | None = None
) -> list[Any]:
    """One runner deployment per entry flow; `config` fills the parameter form's defaults. `cron`
    schedules the round deployment (each run does the first unfinished round of the run)."""
    from flows.deployed import ENTRY_FLOWS

    unknown = sorted(set(only or []) - set(ENTRY_FLOWS))
    if unknown:
        raise ValueError(f"unknown deployments {unknown}; known: {sorted(ENTRY_FLOWS)}")
    defaults = {"config": config.model_dump(mode="json")}
    deployments = []
    for name, entry in ENTRY_FLOWS.items():
        if only and name not in only:
            continue
        options: dict[str, Any] = {
            "name": name,
            "parameters": defaults,
            "description": DESCRIPTIONS[name],
            "tags": ["fair"],
        }
        if name == "fair-round":
            options["triggers"] = round_triggers()
            if cron:
                options["cron"] = cron
        deployments.append(entry.to_deployment(**options))
    return deployments


def serve_deployments(config: FairConfig, cron: str | None = None, limit: int | None = None) -> None:
    """Register the deployments with the Prefect API and run their flow runs in subprocesses (blocks)."""
    from prefect import serve

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
