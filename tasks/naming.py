"""How FAIR runs read in the Prefect UI: flow-run and task-run names and tags (run id, round, stage,
teacher, role), so "the failed Gemini rationale batch of round 1" can be found by filter and retried.

Flow runs: `<run id>` (pipeline), `<run id> round <k>` (round), `<run id> round <k> <stage>` (a stage).
Task runs: `rationales gemini shard 2/6`, `reviews by gpt`, `student answers shard 1/4`, ... Tags:
`<run id>`, `round:<k>`, `stage:<stage>`, `teacher:<name>`, `role:<role>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from prefect import Task
from prefect.context import FlowRunContext

from fair_core.refs import RoundRef

#: The table a student-answers task writes -> what its task runs are called.
ANSWER_TABLES = {
    "student_outputs": "student answers",
    "baseline_evaluation": "baseline evaluation",
    "evaluation": "evaluation",
    "baseline_evaluation_seeds": "baseline evaluation",
    "evaluation_seeds": "evaluation",
}

#: A committee role -> what its replies are called.
ROLE_WORDS = {"feedback": "feedback", "rationale": "rationales"}


def progress_key(where: RoundRef, *parts: object) -> str:
    """The key of a task's progress artifact: 'progress-<run id>-round-<k>-<parts>' (Prefect keys:
    lowercase letters, digits and dashes)."""
    words = ["progress", where.run_id, "round", where.round, *(p for p in parts if p)]
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(w) for w in words).lower()).strip("-")


def shard_words(parameters: dict[str, Any]) -> str:
    """' shard 2/6' for shard index 1 of 6; '' for a task that is not split."""
    shards = int(parameters.get("shards", 1) or 1)
    return f" shard {int(parameters.get('shard', 0)) + 1}/{shards}" if shards > 1 else ""


def round_tags(where: RoundRef) -> list[str]:
    """Tags every flow and task run of a round carries: the run id and `round:<k>`."""
    return [where.run_id, f"round:{where.round}"]


def tagged(task: Task, where: RoundRef, stage: str, **labels: str) -> Task:
    """`task` with the round's tags, `stage:<stage>` and one `<key>:<value>` tag per label (teacher,
    role); its name and cache key are unchanged."""
    extra = [f"{key}:{value}" for key, value in labels.items()]
    return task.with_options(tags={*round_tags(where), f"stage:{stage}", *extra})


def teacher_batch_name(parameters: dict[str, Any]) -> str:
    """`task_run_name` of a committee batch: 'rationales gemini shard 2/6', 'feedback gpt'."""
    role = str(parameters.get("role", "batch"))
    teacher = parameters["teacher"].name
    return f"{ROLE_WORDS.get(role, role)} {teacher}{shard_words(parameters)}"


def review_batch_name(parameters: dict[str, Any]) -> str:
    """`task_run_name` of a peer-review batch: 'reviews by gpt shard 1/2'."""
    return f"reviews by {parameters['reviewer'].name}{shard_words(parameters)}"


def answers_name(parameters: dict[str, Any]) -> str:
    """`task_run_name` of a student-answers task: 'student answers shard 1/4', 'evaluation'."""
    table = str(parameters.get("table", "answers"))
    return f"{ANSWER_TABLES.get(table, table.replace('_', ' '))}{shard_words(parameters)}"


def round_task_name(label: str) -> Callable[..., str]:
    """`task_run_name` '<label> round <k>' for a task with a `where` (RoundRef) parameter."""

    def name(parameters: dict[str, Any]) -> str:
        where = parameters.get("where")
        return f"{label} round {where.round}" if isinstance(where, RoundRef) else label

    return name


def flow_parameters() -> dict[str, Any]:
    """The parameters of the flow run being named (inside a `flow_run_name` callable)."""
    context = FlowRunContext.get()
    return dict(context.parameters or {}) if context else {}


def config_run_id(config: Any) -> str | None:
    """The run id of a config parameter (a FairConfig, or its dict as a deployment passes it); None
    when it cannot be computed (an invalid config: the flow's own checks say why)."""
    try:
        if isinstance(config, dict):
            from fair_core.config import parse_config

            config = parse_config(config)
        return str(config.run_id())
    except Exception:
        return None


def run_flow_name(suffix: str = "", fallback: str = "fair run") -> Callable[[], str]:
    """A `flow_run_name` callable: '<run id>' + `suffix` formatted with the flow's parameters
    (e.g. ' round {round_index}'); `fallback` when the config's run id cannot be computed."""

    def name() -> str:
        parameters = flow_parameters()
        run_id = config_run_id(parameters.get("config"))
        values = dict(parameters)
        if values.get("round_index") is None or values["round_index"] < 0:
            values["round_index"] = "next"  # the run's first unfinished round
        try:
            tail = suffix.format(**values)
        except (KeyError, IndexError, ValueError):
            tail = ""
        return f"{run_id or fallback}{tail}"

    return name
