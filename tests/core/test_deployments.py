"""deployments/prefect.yaml and `fair serve`'s deployments: entry points, forms, triggers, schedule."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from fair_core.config import load_config, parse_config, preset_path
from flows.deployed import ENTRY_FLOWS
from flows.serving import build_deployments

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefect_yaml() -> dict:
    return yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())


def test_prefect_yaml_entrypoints_are_the_served_flows(prefect_yaml: dict) -> None:
    entries = {}
    for deployment in prefect_yaml["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        entries[deployment["name"]] = getattr(module, name)
        assert deployment["work_pool"]["name"] == "fair-process"
    assert {f"fair-{name}": flow for name, flow in entries.items()} == ENTRY_FLOWS


def test_prefect_yaml_default_config_is_the_demo(prefect_yaml: dict) -> None:
    demo = load_config(preset_path("demo"))
    for deployment in prefect_yaml["deployments"]:
        assert parse_config(deployment["parameters"]["config"]) == demo, deployment["name"]


def test_round_deployment_has_both_triggers_and_an_inactive_cron(prefect_yaml: dict) -> None:
    (round_deployment,) = [d for d in prefect_yaml["deployments"] if d["name"] == "round"]
    expects = sorted(e for t in round_deployment["triggers"] for e in t["expect"])
    assert expects == ["fair.round.completed", "fair.student.ready"]
    chain = next(t for t in round_deployment["triggers"] if "fair.round.completed" in t["expect"])
    assert chain["match"] == {"fair.chain": "next"}
    assert round_deployment["schedules"][0]["active"] is False


def test_served_deployments_carry_config_defaults_and_a_documented_form() -> None:
    config = load_config(preset_path("demo"))
    deployments = {d.name: d for d in build_deployments(config, cron="0 3 * * *")}
    assert sorted(deployments) == sorted(ENTRY_FLOWS)
    for deployment in deployments.values():
        assert parse_config(deployment.parameters["config"]) == config
        properties = deployment._parameter_openapi_schema.properties
        assert "config" in properties
    round_deployment = deployments["fair-round"]
    assert [t.expect for t in round_deployment.triggers] == [{"fair.round.completed"}, {"fair.student.ready"}]
    assert round_deployment.schedules[0].schedule.cron == "0 3 * * *"
    form = round_deployment._parameter_openapi_schema.properties
    assert "first round of the run that has not finished" in form["round_index"]["description"]
    definitions = round_deployment._parameter_openapi_schema.definitions
    assert "Number of FAIR rounds" in str(definitions)  # the config's help text reaches the UI form


def test_unknown_deployment_is_named() -> None:
    config = load_config(preset_path("demo"))
    with pytest.raises(ValueError, match="unknown deployments \\['nope'\\]"):
        build_deployments(config, only=["nope"])
