"""The short deployment form (`run-fair` flow; deployments `fair-run` and `fair-demo`): a preset, the
dataset, the student, each teacher's provider and model, rounds and budget, with the full configuration
behind it as `advanced` overrides. `short_config` builds and validates the FairConfig from them.

Empty fields keep the preset's value. The simulator is the demo's: with a preset that enables it, a
committee typed into the form is refused unless `advanced` says `simulator.enabled` either way, so edited
teachers are never silently simulated (and a non-demo deployment warns loudly: flows/entry.py).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import yaml
from prefect import flow
from pydantic import Field

from fair_core.config import ConfigError, FairConfig, ProviderName, Section, list_presets, parse_config
from fair_core.config.data import DatasetName
from fair_core.config.loading import SWEEP_SECTION
from fair_core.config.presets import preset_path
from flows.entry import entry, titled
from flows.pipeline import fair_pipeline

#: Every packaged preset, as the form's drop-down.
PresetName = Literal[tuple(list_presets())]  # type: ignore[valid-type]
#: The dataset drop-down: the preset's, or one of the built-in tasks.
PRESET_DATASET = "from preset"
DatasetChoice = Literal[(PRESET_DATASET, *DatasetName.__args__)]  # type: ignore[valid-type,attr-defined]
#: The `fair-run` form's default preset (a current committee with real providers and a budget).
RUN_PRESET = "current-svamp"


class TeacherChoice(Section):
    """One teacher of the committee: its name, provider and model (the rest: the preset's teacher of the
    same name and provider, else the defaults; `advanced` for more)."""

    name: str = Field(description="Short unique name in tables and task runs, e.g. gpt.")
    provider: ProviderName = Field("openai", description="openai (or compatible), gemini, mistral, replay.")
    model: str = Field(description="The provider's model id, e.g. gpt-5-mini, gemini-2.5-flash.")


def preset_data(preset: str) -> dict[str, Any]:
    """A preset's config as a mapping (its `sweep` section left out)."""
    data = yaml.safe_load(preset_path(preset).read_text(encoding="utf-8")) or {}
    return {k: v for k, v in data.items() if k != SWEEP_SECTION}


def is_sweep_preset(preset: str) -> bool:
    """Whether a preset is a sweep's (it has a `sweep` section), not a single run's."""
    data = yaml.safe_load(preset_path(preset).read_text(encoding="utf-8")) or {}
    return SWEEP_SECTION in data


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` on top of `base`: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _committee(preset: list[dict[str, Any]], teachers: list[TeacherChoice]) -> list[dict[str, Any]]:
    """The form's teachers, each with the preset's settings of the teacher of the same name and provider."""
    known = {(t.get("name"), t.get("provider", "openai")): t for t in preset}
    out = []
    for t in teachers:
        base = dict(known.get((t.name, t.provider), {}))
        out.append({**base, "name": t.name, "provider": t.provider, "model": t.model})
    return out


def short_config(
    preset: str,
    dataset: str = PRESET_DATASET,
    student: str = "",
    teachers: list[TeacherChoice] | None = None,
    rounds: int = 0,
    budget_usd: float = 0.0,
    advanced: dict[str, Any] | None = None,
) -> FairConfig:
    """The FairConfig of a short form: the preset, then the fields that are set, then `advanced` (nested
    as in a config file). ConfigError (one message naming the field) when the result is not valid."""
    advanced = dict(advanced or {})
    data = preset_data(preset)
    if dataset and dataset != PRESET_DATASET:
        kept = {k: v for k, v in (data.get("dataset") or {}).items() if k in ("train_limit", "test_limit")}
        data["dataset"] = {"name": dataset, **kept}
    if student:
        data["student"] = {**(data.get("student") or {}), "model": student}
    if teachers:
        simulated = (data.get("simulator") or {}).get("enabled")
        if simulated and "enabled" not in (advanced.get("simulator") or {}):
            raise ConfigError(
                f"preset {preset}: its teachers are played by the simulator, so the teachers entered in "
                'the form would be simulated too; add {"simulator": {"enabled": false}} to advanced for '
                'the real providers, or {"simulator": {"enabled": true}} to simulate them'
            )
        data["teachers"] = _committee(
            list(data.get("teachers") or []), [TeacherChoice.model_validate(t) for t in teachers]
        )
    if rounds:
        data["run"] = {**(data.get("run") or {}), "rounds": rounds}
    if budget_usd:
        data["run"] = {**(data.get("run") or {}), "budget_usd": budget_usd}
    return parse_config(merge(data, advanced), f"the form (preset {preset})")


def _run_name() -> str:
    """`flow_run_name` of the short form: the run id of the config it builds."""
    from tasks.naming import flow_parameters

    parameters = flow_parameters()
    parameters.pop("refresh", None)
    try:
        return short_config(**parameters).run_id()
    except Exception:
        return f"{parameters.get('preset', 'fair')} (invalid form)"


Preset = titled(PresetName, "Preset")
Dataset = titled(DatasetChoice, "Dataset")
Student = titled(str, "Student model")
Teachers = titled(list[TeacherChoice], "Teachers")
Rounds = titled(int, "Rounds (0: the preset's)", ge=0, le=20)
Budget = titled(float, "Budget in USD (0: the preset's)", ge=0)
Advanced = titled(dict[str, Any], "Advanced: the full configuration (overrides)")
Refresh = titled(bool, "Ask every teacher again (no reply cache)")


@flow(name="run-fair", flow_run_name=_run_name, log_prints=True)
def run_fair(
    preset: Preset = RUN_PRESET,
    dataset: Dataset = PRESET_DATASET,
    student: Student = "",
    teachers: Teachers = [],  # noqa: B006 - Prefect copies parameters; never mutated
    rounds: Rounds = 0,
    budget_usd: Budget = 0.0,
    advanced: Advanced = {},  # noqa: B006
    refresh: Refresh = False,
) -> list[dict[str, Any]]:
    """A FAIR run from a preset and a few choices: all its rounds, then where the results are.

    Args:
        preset: The packaged config to start from (fair_core/presets): demo, paper-*, fair-*, current-svamp.
        dataset: The task; "from preset" keeps the preset's dataset and its settings.
        student: The student model (a Hub id, a local folder or an alias); empty: the preset's.
        teachers: The committee (name, provider, model); empty: the preset's teachers.
        rounds: FAIR rounds; 0: the preset's.
        budget_usd: Stop sending teacher requests after this much (USD); 0: the preset's budget.
        advanced: Any other setting, nested as in a config file, on top of the preset and the fields above,
            e.g. {"training": {"lora_r": 16}, "student": {"vllm": {"kv_cache_gb": 4}}}; every field and
            its help text is in the full form of the fair-pipeline deployment.
        refresh: Ask every teacher request again (no reply cache).
    """
    config = short_config(preset, dataset, student, teachers, rounds, budget_usd, advanced)
    with entry(config) as served:
        return fair_pipeline(served, refresh)
