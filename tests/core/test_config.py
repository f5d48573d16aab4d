"""Every preset loads, by path and by name; bad configs fail with messages naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fair_core.config import ConfigError, FairConfig, list_presets, load_config, parse_config, preset_path
from fair_core.config.presets import presets_dir

CONFIGS = sorted(presets_dir().glob("*.yaml"))
TEACHERS = [{"name": "a", "model": "m1"}, {"name": "b", "model": "m2"}]


def test_the_presets_exist() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"demo", "paper-gsm8k", "paper-svamp", "paper-strategyqa", "paper-logiqa"} <= names
    assert list_presets() == sorted(names)
    assert presets_dir() == Path(__file__).resolve().parents[2] / "fair_core" / "presets"


@pytest.mark.parametrize("name", list_presets())
def test_a_preset_loads_by_name(name: str) -> None:
    assert load_config(name) == load_config(preset_path(name))
    assert load_config(name, ["run.rounds=3"]).run.rounds == 3


def test_an_unknown_name_lists_the_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = re.escape(", ".join(list_presets()))
    with pytest.raises(ConfigError, match=rf"no preset 'nope' \(known: {known}\)"):
        preset_path("nope")
    with pytest.raises(ConfigError, match=rf"nope: config file not found \(nor a preset: {known}\)"):
        load_config("nope")
    monkeypatch.chdir(tmp_path)  # a file in the working directory wins over a preset of the same name
    (tmp_path / "demo").write_text("teachers: [{name: a, model: m}, {name: b, model: n}]\nrun: {name: mine}")
    assert load_config("demo").run.name == "mine"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_file_loads(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, FairConfig)
    assert len(config.teachers) >= 2
    assert config.run_id().startswith(config.run.name)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem.startswith("paper-")], ids=lambda p: p.stem)
def test_paper_presets_carry_the_paper_settings(path: Path) -> None:
    config = load_config(path)
    assert config.dataset.name == path.stem.removeprefix("paper-")
    assert config.dataset.source == "hub"
    assert [t.model for t in config.teachers] == [
        "gpt-3.5-turbo",
        "gemini-1.0-pro",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
    ]
    assert all(t.temperature == 0.8 for t in config.teachers)
    # the paper code caps GPT and Mixtral at 512 tokens and Gemini not at all (its model's own limit)
    assert {t.name: t.max_tokens for t in config.teachers} == {"gpt": 512, "gemini": 2048, "mixtral": 512}
    assert config.review.threshold == 3.0 and not config.review.gold_check
    t = config.training
    assert (t.learning_rate, t.epochs, t.batch_size, t.grad_accum, t.max_length, t.alpha) == (
        1e-5,
        10,
        8,
        2,
        512,
        0.5,
    )
    assert config.student.model == "meta-llama/Llama-2-7b-chat-hf"


def test_demo_preset_is_offline() -> None:
    config = load_config(preset_path("demo"))
    assert config.simulator.enabled and config.review.gold_check
    assert config.dataset.name == "reasoning_gym" and config.run.rounds == 2


def test_overrides_apply_and_change_the_hash() -> None:
    base = parse_config({"teachers": TEACHERS})
    changed = parse_config(
        {"teachers": TEACHERS}, overrides=["training.epochs=2", "teachers.0.temperature=0"]
    )
    assert changed.training.epochs == 2 and changed.teachers[0].temperature == 0
    assert base.config_hash() != changed.config_hash()


def test_endpoint_and_data_dir_do_not_change_the_run_id() -> None:
    a = parse_config({"teachers": TEACHERS})
    moved = [dict(TEACHERS[0], base_url="http://127.0.0.1:9/v1"), TEACHERS[1]]
    b = parse_config({"teachers": moved, "run": {"data_dir": "/elsewhere"}})
    assert a.run_id() == b.run_id()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"teachers": TEACHERS, "training": {"alpha": 2}}, "training.alpha"),
        ({"teachers": TEACHERS, "student": {"batch_size": 0}}, "student.batch_size"),
        ({"teachers": TEACHERS, "bogus": 1}, "bogus"),
        ({"teachers": [TEACHERS[0]]}, "at least two teachers"),
        ({"teachers": [TEACHERS[0], TEACHERS[0]]}, "duplicated names"),
        (
            {"teachers": [{"name": "a", "model": "m", "provider": "cohere"}, TEACHERS[1]]},
            "teachers.0.provider",
        ),
    ],
)
def test_bad_configs_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_config(data, source="my.yaml")
    assert "my.yaml" in str(err.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_config({"teachers": TEACHERS}, overrides=["training.epochs"])


def test_every_field_has_help_text() -> None:
    from pydantic import BaseModel

    def walk(model: type[BaseModel]) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation)
            elif model is not FairConfig:
                assert field.description, f"{model.__name__}.{name} has no description"

    walk(FairConfig)


THREE = [*TEACHERS, {"name": "c", "model": "m3"}]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("teachers.5.name=x", r"teachers\.5 is not an item of teachers \(indexes: 0-2\)"),
        ("teachers.x.name=x", r"teachers\.x is not an item of teachers \(indexes: 0-2\)"),
        ("teachers.-1.name=x", r"teachers\.-1 is not an item of teachers"),  # not the last teacher
        ("teachers.3=x", r"teachers\.3 is not an item of teachers"),
        ("run.rounds.x=1", r"run\.rounds is a value \(1\), not a section with 'x'"),
        ("run.rounds=[1", r"the value is not valid YAML .*; quote it"),
        ("run..rounds=1", r"empty part in the key"),
    ],
)
def test_a_bad_override_path_is_one_config_error(override: str, message: str) -> None:
    data = {"teachers": THREE, "run": {"rounds": 1}}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, overrides=[override])
    assert [t["name"] for t in data["teachers"]] == ["a", "b", "c"]  # the caller's data is never changed


@pytest.mark.parametrize(
    ("review", "message"),
    [
        ({"threshold": 7}, r"review\.threshold: 7 cannot work: scores are 1-5"),
        ({"threshold": 5}, r"review\.threshold: 5 cannot work"),
        ({"threshold": -2}, r"review\.threshold: -2 cannot work"),
        (
            {"min_valid_scores": 5},
            r"review\.min_valid_scores: 5 can never be reached with 3 teachers .* 2 or less",
        ),
        ({"min_valid_scores": 3}, r"at most 2 reviews"),
    ],
)
def test_review_settings_that_can_never_accept_are_refused(review: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_config({"teachers": THREE, "review": review}, source="my.yaml")
    assert "\n" not in str(err.value)  # one error, one line


def test_reachable_review_settings_are_accepted() -> None:
    config = parse_config({"teachers": THREE, "review": {"threshold": 1, "min_valid_scores": 2}})
    assert config.review.threshold == 1 and config.review.min_valid_scores == 2
    assert parse_config({"teachers": THREE, "review": {"threshold": 4.9}}).review.threshold == 4.9
    off = parse_config({"teachers": [TEACHERS[0]], "review": {"enabled": False, "min_valid_scores": 3}})
    assert not off.review.enabled  # no review: the setting is unused


@pytest.mark.parametrize("field", ["name", "run_id"])
@pytest.mark.parametrize("value", ["../../etc", "a/b", "..", ".hidden", "", "x..y", "a b", "-rf", "/abs"])
def test_a_run_name_or_id_must_be_a_safe_folder_name(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"run\.{field}: .*not a safe folder name: use 1-100 letters"):
        parse_config({"teachers": TEACHERS, "run": {field: value}})


def test_safe_run_names_keep_working() -> None:
    config = parse_config({"teachers": TEACHERS, "run": {"name": "paper-gsm8k_v1.2", "run_id": "Run-7"}})
    assert config.run_id() == "Run-7"
    assert parse_config({"teachers": TEACHERS, "run": {"name": "tiny-e2e"}}).run_id().startswith("tiny-e2e-")
