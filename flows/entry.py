"""What every deployment entry flow (`run-*`) does first: the pre-run checks, the run's lock, the simulated
teachers when configured, and a loud warning when a deployment not named for the demo simulates them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from prefect import get_run_logger
from pydantic import Field

from fair_core.config import FairConfig
from fair_core.locks import run_lock
from flows.preflight import preflight
from flows.simulation import simulated_teachers
from tasks.results import log_where

#: The one deployment whose runs are meant to be simulated (its form defaults to the demo preset).
DEMO_DEPLOYMENT = "fair-demo"
#: Tag of a flow run whose teachers are played by the local simulator.
SIMULATED_TAG = "simulated"


def titled(annotation: Any, title: str, **constraints: Any) -> Any:
    """`annotation` whose deployment-form label is `title` (Prefect labels a parameter by its name)."""
    return Annotated[annotation, Field(json_schema_extra={"title": title}, **constraints)]


def deployment_name() -> str | None:
    """The deployment this flow run was started from (None: called from Python or the CLI)."""
    from prefect.runtime import deployment

    try:
        return deployment.name
    except Exception:
        return None


def simulated_warning(config: FairConfig, deployment: str | None) -> str | None:
    """The warning for a run of a non-demo deployment whose config enables the simulator."""
    if not config.simulator.enabled or deployment in (None, DEMO_DEPLOYMENT):
        return None
    return (
        f"SIMULATED TEACHERS: simulator.enabled is true in this {deployment} run, so every teacher "
        f"({', '.join(t.name for t in config.teachers)}) is answered by the local simulator, not by its "
        f"provider. For real answers set simulator.enabled: false; for the demo use {DEMO_DEPLOYMENT}."
    )


def warn_if_simulated(config: FairConfig) -> None:
    """Log `simulated_warning` (loudly, at the start and in the flow run's tags) when it applies."""
    warning = simulated_warning(config, deployment_name())
    if warning is None:
        return
    logger = get_run_logger()
    for _ in range(2):  # at the top of the log and visible among the first lines
        logger.warning("%s", warning)
    try:
        from prefect.client.orchestration import get_client
        from prefect.runtime import flow_run

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run.id)
            client.update_flow_run(run.id, tags=sorted({*run.tags, SIMULATED_TAG}))
    except Exception as err:  # a label, never a reason to fail the run
        logger.debug("could not tag the flow run: %s", err)


@contextmanager
def entry(config: FairConfig, teachers: bool = True) -> Iterator[FairConfig]:
    """The pre-run checks (`teachers`: with the committee's keys, SDKs and reply cache), the run's lock
    (waiting: a chained round may start while the last one ends), and the simulated teachers when
    configured; yields the config to run. At the end the log says where the results are."""
    warn_if_simulated(config)
    if teachers:
        preflight(config)
    with run_lock(config.run.data_dir, config.run_id(), wait=True):
        if not teachers:
            yield config
        else:
            with simulated_teachers(config) as (served, _):
                yield served
    log_where(get_run_logger(), config.run.data_dir, config.run_id())
