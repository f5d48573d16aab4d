"""Prefect events of a FAIR run: `fair.round.completed` (chains rounds) and `fair.student.ready`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fair_core.config import FairConfig
from tasks.logs import task_logger

ROUND_COMPLETED = "fair.round.completed"
STUDENT_READY = "fair.student.ready"
#: Resource label a trigger matches on: "next" when the round asks for the next one to be started.
CHAIN_LABEL = "fair.chain"


def run_resource(config: FairConfig, round_index: int, chain: bool) -> dict[str, str]:
    run_id = config.run_id()
    return {
        "prefect.resource.id": f"fair.run.{run_id}.round.{round_index}",
        "prefect.resource.name": f"{run_id} round {round_index}",
        "fair.run-id": run_id,
        "fair.round": str(round_index),
        CHAIN_LABEL: "next" if chain else "stop",
    }


def _emit(event: str, resource: dict[str, str], payload: dict[str, Any]) -> str | None:
    """Emit; an event that cannot be sent is logged, never a reason to fail finished work."""
    from prefect.events import emit_event

    try:
        sent = emit_event(event=event, resource=resource, payload=payload)
    except Exception as err:  # the events client is best effort
        task_logger().warning("event %s not emitted: %s", event, err)
        return None
    return str(sent.id) if sent else None


def emit_round_completed(
    config: FairConfig, round_index: int, summary: dict[str, Any], chain: bool
) -> str | None:
    """End of round k. With `chain` and rounds left, the label `fair.chain: next` makes the round
    deployment's trigger start round k+1 (payload: run id, round, next round, config, summary)."""
    more = chain and round_index + 1 < config.run.rounds
    payload = {
        "run_id": config.run_id(),
        "round": round_index,
        "next_round": round_index + 1,
        "config": config.model_dump(mode="json"),
        "test_accuracy": summary.get("test_accuracy_after"),
        "summary": {k: v for k, v in summary.items() if isinstance(v, int | float | str | None)},
    }
    return _emit(ROUND_COMPLETED, run_resource(config, round_index, more), payload)


def emit_student_ready(
    config: FairConfig, model_path: str | Path, round_index: int, chain: bool = False
) -> str | None:
    """A new student checkpoint is registered: the round deployment's trigger runs round `round_index`
    starting from it (payload: model path, round, config, chain)."""
    payload = {
        "run_id": config.run_id(),
        "model_path": str(Path(model_path).expanduser().resolve()),
        "round": round_index,
        "chain": chain,
        "config": config.model_dump(mode="json"),
    }
    resource = {
        "prefect.resource.id": f"fair.student.{Path(model_path).name}",
        "fair.run-id": config.run_id(),
        "fair.round": str(round_index),
    }
    return _emit(STUDENT_READY, resource, payload)
