"""`stages.deployments`: the config switch (not part of the run id, clear errors) and the round's side of
a stage handed to a deployment (flows/dispatch.py) when the deployment is wrong or missing."""

from __future__ import annotations

import pytest
from prefect import flow

from fair_core.config import ConfigError, FairConfig
from fair_core.refs import RoundRef
from flows.dispatch import STAGE_FLOWS, StageRunError, remote, run_on_pool


def test_where_stages_run_is_not_part_of_the_run_id(tiny_config) -> None:
    config: FairConfig = tiny_config()
    pooled = tiny_config(stages={"deployments": {"training": "stage-training/gpu"}})
    assert pooled.run_id() == config.run_id()
    assert remote(pooled, "training") == "stage-training/gpu" and remote(pooled, "evaluation") is None
    assert set(STAGE_FLOWS) == {"student-inference", "teacher-committee", "training", "evaluation"}


@pytest.mark.parametrize(
    ("deployments", "message"),
    [
        ({"train": "stage-training/gpu"}, r"unknown stages \['train'\]"),
        ({"training": "gpu"}, r"'<flow name>/<deployment name>'"),
        # a deployment of another flow is refused with the config, before any stage runs
        ({"training": "run-training/gpu"}, r"training: 'run-training/gpu' is a deployment of flow"),
    ],
)
def test_bad_stage_deployments_are_named(tiny_config, deployments: dict, message: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        tiny_config(stages={"deployments": deployments})


def test_a_stage_on_a_missing_deployment_fails_with_one_line(tiny_config) -> None:
    missing = tiny_config(stages={"deployments": {"training": "stage-training/nowhere"}})

    @flow
    def start(config: FairConfig) -> None:
        run_on_pool(config, RoundRef(config.run.data_dir, config.run_id(), 0), "training")

    with pytest.raises(StageRunError, match=r"could not start training on stage-training/nowhere") as err:
        start(missing)
    assert "\n" not in str(err.value)


def test_pools_yaml_deploys_the_stage_flows_the_round_names() -> None:
    import importlib
    from pathlib import Path

    import yaml

    from flows.short_form import short_config

    path = Path(__file__).resolve().parents[2] / "deployments" / "pools.yaml"
    deployments = yaml.safe_load(path.read_text())["deployments"]
    served = {}
    for d in deployments:
        module, name = d["entrypoint"].split(":")
        target = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
        served[f"{target.name}/{d['name']}"] = d["work_pool"]["name"]
    (run,) = [d for d in deployments if d["name"] == "pools"]
    config = short_config(run["parameters"]["preset"], advanced=run["parameters"]["advanced"])
    named = config.stages.deployments
    assert set(named) == set(STAGE_FLOWS) and set(named.values()) <= set(served)
    assert {served[named[s]] for s in ("student-inference", "training", "evaluation")} == {"fair-gpu"}
    assert served[named["teacher-committee"]] == served["run-fair/pools"] == "fair-cpu"


def test_the_crashed_stages_automation_watches_every_stage_deployment_at_its_heartbeat() -> None:
    """deployments/crashed-stages.yaml is a valid Prefect automation; it watches exactly the stage flow runs
    of pools.yaml (their tag) and waits for three of the heartbeats those deployments send."""
    from pathlib import Path

    import yaml
    from prefect.events.schemas.automations import AutomationCore

    from flows.stage_pools import WATCHED_TAG

    folder = Path(__file__).resolve().parents[2] / "deployments"
    (automation,) = [
        AutomationCore.model_validate(a)
        for a in yaml.safe_load((folder / "crashed-stages.yaml").read_text())["automations"]
    ]
    trigger = automation.trigger
    assert trigger.posture == "Proactive" and trigger.after == {"prefect.flow-run.heartbeat"}
    assert [a.type for a in automation.actions] == ["change-flow-run-state"]
    related = trigger.match_related
    related = related[0] if isinstance(related, list) else related
    (tag,) = (t.removeprefix("prefect.tag.") for t in related["prefect.resource.id"])
    assert tag == WATCHED_TAG  # on the stage subflows too: they die with their stage flow run
    deployments = yaml.safe_load((folder / "pools.yaml").read_text())["deployments"]
    stages = [d for d in deployments if d["entrypoint"].startswith("flows/stage_pools.py:")]
    assert len(stages) == len(STAGE_FLOWS)
    assert [d for d in deployments if tag in d["tags"]] == stages  # the round itself is not watched
    for d in stages:
        heartbeat = int(d["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
        assert trigger.within.total_seconds() >= 3 * heartbeat, d["entrypoint"]


def test_stage_retries_is_a_volatile_switch(tiny_config) -> None:
    assert tiny_config().stages.retries == 2
    assert tiny_config(stages={"retries": 0}).run_id() == tiny_config().run_id()
    with pytest.raises((ConfigError, ValueError), match="retries"):
        tiny_config(stages={"retries": -1})
