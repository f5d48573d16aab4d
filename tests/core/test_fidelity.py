"""The paper-* presets carry the paper code's value of every fidelity switch, the fair-* presets ours, and
the two families differ in nothing else; the README's fidelity table names every switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fair_core.config import load_config
from fair_core.config.fidelity import DATASETS, SWITCHES, config_value

README = Path(__file__).resolve().parents[2] / "README.md"


def _dump(name: str) -> dict[str, Any]:
    return load_config(name).model_dump(mode="json")


def _without(data: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The config with the switch keys (and the run name) removed."""
    out = {
        k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v for k, v in data.items()
    }
    out["run"].pop("name")
    out["teachers"] = [dict(t) for t in data["teachers"]]
    for key in keys:
        parts = key.split(".")
        if parts[0] == "teachers":
            next(t for t in out["teachers"] if t["name"] == parts[1]).pop(parts[2])
        else:
            out[parts[0]].pop(parts[1])
    return out


@pytest.mark.parametrize("dataset", DATASETS)
def test_each_family_has_its_value_of_every_switch(dataset: str) -> None:
    for family in ("paper", "fair"):
        data = _dump(f"{family}-{dataset}")
        for switch in SWITCHES:
            assert config_value(data, switch.key) == switch.value(family, dataset), (family, switch.key)


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_families_differ_only_in_the_switches(dataset: str) -> None:
    keys = {s.key for s in SWITCHES}
    assert _without(_dump(f"paper-{dataset}"), keys) == _without(_dump(f"fair-{dataset}"), keys)
    assert _dump(f"paper-{dataset}") != _dump(f"fair-{dataset}")


def test_the_readme_table_names_every_switch() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Fidelity") :]
    for switch in SWITCHES:
        assert f"`{switch.key}`" in table, switch.key
