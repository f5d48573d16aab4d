"""deployments/prefect.yaml and `fair serve`'s deployments: entry points, forms (titles, no null toggles,
the short form), defaults (the simulator only in fair-demo), triggers, schedule."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml

from fair_core.config import ConfigError, FairConfig, load_config, parse_config, preset_path
from fair_core.config.base import field_title
from flows.deployed import ENTRY_FLOWS
from flows.entry import simulated_warning
from flows.serving import build_deployments, short_form_defaults
from flows.short_form import TeacherChoice, short_config

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


def test_prefect_yaml_simulates_only_in_the_demo(prefect_yaml: dict) -> None:
    current = load_config(preset_path("current-svamp"))
    forms = {d["name"]: d["parameters"] for d in prefect_yaml["deployments"]}
    assert forms.pop("demo") == {"preset": "demo"}
    assert forms.pop("run") == {"preset": "current-svamp"}
    for name, parameters in forms.items():
        config = parse_config(parameters["config"])
        assert config == current and not config.simulator.enabled, name


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
    for name in ("fair-run", "fair-demo"):  # the short form that rebuilds the served config
        assert short_config(**deployments.pop(name).parameters) == config
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


def test_without_a_config_only_the_demo_form_simulates() -> None:
    deployments = {d.name: d for d in build_deployments(None)}
    assert deployments.pop("fair-demo").parameters == {"preset": "demo"}
    assert deployments.pop("fair-run").parameters == {"preset": "current-svamp"}
    assert short_config("demo").simulator.enabled
    for name, deployment in deployments.items():
        config = parse_config(deployment.parameters["config"])
        assert config.run.name == "current-svamp" and not config.simulator.enabled, name


def _schema_text(deployment: object) -> str:
    return json.dumps(deployment._parameter_openapi_schema.model_dump())  # type: ignore[attr-defined]


def test_forms_have_readable_titles_and_no_null_toggles() -> None:
    for deployment in build_deployments(None):
        schema = deployment._parameter_openapi_schema.model_dump()
        text = _schema_text(deployment)
        nullable = [
            (d, k)
            for d, model in schema["definitions"].items()
            for k, p in model["properties"].items()
            if {"type": "null"} in p.get("anyOf", [])
        ]
        assert nullable == [], (deployment.name, nullable)
        assert not any({"type": "null"} in p.get("anyOf", []) for p in schema["properties"].values())
        for prop in schema["properties"].values():
            assert "_" not in prop.get("title", ""), (deployment.name, prop)
        if "config" in schema["properties"]:
            for title in ("LoRA rank", "KV cache (GB)", "GPU memory utilization", "Budget (USD)", "vLLM"):
                assert f'"title": "{title}"' in text, (deployment.name, title)
            titles = {
                p.get("title") for m in schema["definitions"].values() for p in m["properties"].values()
            }
            assert not titles & {"Lora R", "Vllm", "Kv Cache Gb"}


def test_field_titles_know_acronyms_and_units() -> None:
    assert field_title("lora_r") == "LoRA rank"
    assert field_title("gpu_memory_utilization") == "GPU memory utilization"
    assert field_title("timeout_s") == "Timeout (s)"
    assert field_title("base_url") == "Base URL"
    assert field_title("latency_ms") == "Latency (ms)"


def test_nullable_fields_still_accept_null_on_the_server() -> None:
    """Prefect's validator (what the server runs on a new flow run) re-admits null for a plain input."""
    from prefect.utilities.schema_tools.validation import validate

    (pipeline,) = build_deployments(load_config(preset_path("demo")), only=["fair-pipeline"])
    schema = pipeline._parameter_openapi_schema.model_dump()
    parameters = {"config": load_config(preset_path("demo")).model_dump(mode="json")}
    assert parameters["config"]["run"]["budget_usd"] is None
    assert validate(parameters, schema) == []
    parameters["config"]["run"]["budget_usd"] = "lots"
    assert validate(parameters, schema) != []


def test_short_form_builds_the_config_from_preset_fields_and_advanced() -> None:
    teachers = [TeacherChoice(name="gpt", provider="openai", model="gpt-4.1-mini")]
    config = short_config(
        "current-svamp",
        dataset="gsm8k",
        student="smollm2-135m",
        teachers=[*teachers, TeacherChoice(name="gem", provider="gemini", model="gemini-2.5-pro")],
        rounds=3,
        budget_usd=5,
        advanced={"training": {"lora_r": 4}, "review": {"threshold": 2.5}},
    )
    assert (config.dataset.name, config.student.model, config.run.rounds) == ("gsm8k", "smollm2-135m", 3)
    assert config.run.budget_usd == 5 and config.training.lora_r == 4 and config.review.threshold == 2.5
    gpt, gem = config.teachers
    assert (gpt.model, gpt.max_tokens) == ("gpt-4.1-mini", 2048)  # the preset's gpt settings kept
    assert (gem.provider, gem.max_tokens) == ("gemini", 512)  # a new teacher: the defaults
    assert short_config("current-svamp") == load_config(preset_path("current-svamp"))


def test_short_form_errors_are_one_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"advanced.*simulator") as err:  # edited teachers, demo preset
        short_config("demo", teachers=[TeacherChoice(name="gpt", model="gpt-5-mini")])
    assert "\n" not in str(err.value)
    real = short_config(
        "demo",
        teachers=[TeacherChoice(name="gpt", model="gpt-5-mini"), TeacherChoice(name="b", model="m")],
        advanced={"simulator": {"enabled": False}},
    )
    assert not real.simulator.enabled
    with pytest.raises(ConfigError, match=r"training\.lora_r"):
        short_config("demo", advanced={"training": {"lora_r": 0}})


def test_a_served_config_round_trips_through_the_short_form(tmp_path: Path) -> None:
    config = load_config(preset_path("demo"), [f"run.data_dir={tmp_path}", "training.lora_r=4"])
    defaults = short_form_defaults(config)
    assert defaults["preset"] == "demo"
    assert defaults["advanced"] == {"run": {"data_dir": str(tmp_path)}, "training": {"lora_r": 4}}
    assert short_config(**defaults) == config


def test_simulated_teachers_outside_the_demo_are_announced() -> None:
    demo: FairConfig = load_config(preset_path("demo"))
    assert simulated_warning(demo, "fair-demo") is None
    assert simulated_warning(demo, None) is None  # `fair run` / `fair demo`: the CLI says so itself
    warning = simulated_warning(demo, "fair-pipeline")
    assert warning and warning.startswith("SIMULATED TEACHERS") and "gpt, gemini, mixtral" in warning
    assert simulated_warning(load_config(preset_path("current-svamp")), "fair-pipeline") is None


@pytest.mark.parametrize("chat_template", [None, True, False])
def test_form_defaults_validate_and_build_the_served_config(chat_template: bool | None) -> None:
    """A form submitted untouched builds the served config: a nullable switch (student.chat_template)
    is a text input of its words, since a checkbox left alone would send false."""
    from prefect.utilities.schema_tools.validation import validate

    from flows.serving import form_config

    config = load_config(preset_path("demo"))
    config.student.chat_template = chat_template
    (pipeline,) = build_deployments(config, only=["fair-pipeline"])
    schema = pipeline._parameter_openapi_schema.model_dump()
    prop = schema["definitions"]["StudentConfig"]["properties"]["chat_template"]
    assert prop["type"] == "string" and prop["examples"] == ["auto", "chat", "raw"]
    defaults = {"config": form_config(config)}
    assert validate(defaults, schema) == []
    assert parse_config(defaults["config"]) == config
    assert parse_config(pipeline.parameters["config"]) == config
    raw = dict(defaults["config"], student=dict(defaults["config"]["student"], chat_template=None))
    assert validate({"config": config.model_dump(mode="json") | {"student": raw["student"]}}, schema) == []
