"""The round's side of `stages.deployments`: start a stage as a flow run of its deployment (on that
deployment's work pool) with `run_deployment`, wait for it, and fail clearly when it does not complete.

The round keeps the run's lock, its pre-run checks and the simulated teachers, and hands each stage the
config it runs (simulated teachers included: their base_url points at the round's simulator). The flows
those deployments run are in flows/stage_pools.py.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger
from pydantic_core import to_jsonable_python

from fair_core.config import FairConfig
from fair_core.config.stages import STAGE_FLOWS
from fair_core.refs import RoundRef

__all__ = ["STAGE_FLOWS", "StageRunError", "remote", "run_on_pool"]


class StageRunError(RuntimeError):
    """A stage handed to a deployment did not complete."""


def remote(config: FairConfig, stage: str) -> str | None:
    """The deployment that runs `stage` of this config's rounds (None: the round runs it itself)."""
    return config.stages.deployments.get(stage)


def run_on_pool(config: FairConfig, where: RoundRef, stage: str, **parameters: Any) -> None:
    """Start `stage` of round `where` as a flow run of its deployment (a child of this flow run) and
    wait for it. A flow run that Crashed (its worker died) is started again, up to `stages.retries`
    times; any other end but Completed raises, naming the deployment, the flow run and its state."""
    from prefect.deployments import run_deployment

    name = config.stages.deployments[stage]  # its flow was checked with the config (StagesConfig)
    logger = get_run_logger()
    values = to_jsonable_python(
        {"config": config.model_dump(mode="json"), "round_index": where.round, **parameters}
    )
    for attempt in range(config.stages.retries + 1):
        logger.info("round %d: %s runs on deployment %s", where.round, stage, name)
        try:
            run = run_deployment(name, parameters=values, timeout=None)
        except Exception as err:  # an unknown deployment, an unreachable server
            raise StageRunError(f"round {where.round}: could not start {stage} on {name}: {err}") from None
        state = run.state
        if state is not None and state.is_completed():
            logger.info("round %d: %s done on %s (flow run %s)", where.round, stage, name, run.name)
            return
        what = f"{state.name}: {state.message}" if state is not None else "no state"
        if state is None or not state.is_crashed() or attempt == config.stages.retries:
            break
        logger.warning(
            "round %d: %s flow run %s ended %s; starting it again (attempt %d of %d)",
            *(where.round, stage, run.name, what, attempt + 2, config.stages.retries + 1),
        )
    raise StageRunError(
        f"run {where.run_id} round {where.round}: {stage} on deployment {name} (flow run "
        f"{run.name}, {run.id}) ended {what}; retry that flow run or run the round again"
    )
