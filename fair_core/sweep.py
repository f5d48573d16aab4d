"""A sweep's variants from a base config: built-in ablations, explicit variants, varied settings, seeds.

Pure (no Prefect): `expand_sweep(base, sweep)` gives one `Variant` per run; `flows/sweep.py` runs them.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fair_core.config import ConfigError, FairConfig, parse_config
from fair_core.config.presets import config_path
from fair_core.config.sweep import SweepConfig
from fair_core.hashing import stable_hash

#: The label of the unchanged configuration in the built-in ablations.
REFERENCE_LABEL = "fair"


@dataclass(frozen=True)
class Variant:
    """One run of a sweep: its label, seed (None: the base config's), config and what it changes."""

    label: str
    seed: int | None
    config: FairConfig
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.config.run_id()

    def record(self, sweep_id: str) -> dict[str, Any]:
        """What `<run>/sweep.json` and the sweep's own record say about this run."""
        return {
            "sweep": sweep_id,
            "label": self.label,
            "seed": self.seed,
            "run_id": self.run_id,
            "meta": self.meta,
        }


@dataclass(frozen=True)
class _Spec:
    label: str
    changes: dict[str, Any]
    without_teacher: str | None = None


def ablation_specs(kind: str, base: FairConfig) -> list[_Spec]:
    """The variants of a built-in ablation: 'paper' (the paper's ablations) or 'committee' (leave one out)."""
    names = [t.name for t in base.teachers]
    specs = [_Spec(REFERENCE_LABEL, {})]
    if kind == "paper":
        specs += [
            _Spec("no-review", {"review.enabled": False}),
            _Spec("no-feedback", {"training.use_feedback": False}),
            *(_Spec(f"only-{name}", {"training.teachers": [name]}) for name in names),
            _Spec("all-rationales", {"training.rationales_per_question": "all"}),
        ]
    elif kind == "committee":
        if len(names) < 3 and base.review.enabled:
            raise ConfigError(
                f"--ablation committee: {len(names)} teachers leave one reviewer or none when one is left "
                "out; peer review needs two teachers: use three or more, or set review.enabled=false"
            )
        specs += [_Spec(f"without-{name}", {}, without_teacher=name) for name in names]
    else:
        raise ConfigError(f"unknown ablation {kind!r}: use 'paper' or 'committee'")
    return specs


def _without(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The config data with teacher `name` left out of the committee and of everything naming it."""
    data = copy.deepcopy(data)
    data["teachers"] = [t for t in data["teachers"] if t["name"] != name]
    training = data.get("training") or {}
    if training.get("teachers"):
        kept = [t for t in training["teachers"] if t != name]
        training["teachers"] = kept or None
    simulator = data.get("simulator") or {}
    if simulator.get("fail_teacher") == name:
        simulator["fail_teacher"] = None
    (simulator.get("wrong_rates") or {}).pop(name, None)
    review = data.get("review") or {}
    most = len(data["teachers"]) - 1
    if review.get("min_valid_scores", 1) > most >= 1:
        review["min_valid_scores"] = most  # each rationale now gets at most `most` reviews
    return data


def _overrides(changes: dict[str, Any]) -> list[str]:
    return [f"{key}={json.dumps(value)}" for key, value in changes.items()]  # JSON is YAML


def _vary_combinations(vary: dict[str, list[Any]]) -> list[dict[str, Any]]:
    for key, values in vary.items():
        if not values:
            raise ConfigError(f"sweep.vary.{key}: give at least one value")
    keys = list(vary)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(vary[k] for k in keys))]


def _label(base: str | None, changes: dict[str, Any]) -> str:
    parts = [base] if base else []
    parts += [
        f"{key}={json.dumps(value) if not isinstance(value, str) else value}"
        for key, value in changes.items()
    ]
    return ", ".join(parts) or REFERENCE_LABEL


def expand_sweep(base: FairConfig, sweep: SweepConfig) -> list[Variant]:
    """Every run of the sweep: (ablation variants + explicit variants, or the base alone) x every
    combination of `vary` x `seeds`. A variant that fails validation is a ConfigError naming it; two
    variants that are the same configuration (one run id) are an error too."""
    specs = ablation_specs(sweep.ablation, base) if sweep.ablation else []
    specs += [_Spec(v.label, dict(v.set)) for v in sweep.variants]
    labelled = bool(specs)
    specs = specs or [_Spec("", {})]
    data = base.model_dump(mode="json")
    if data["run"].get("run_id"):
        data["run"]["run_id"] = None  # every variant gets its own '<name>-<hash>' id
    variants: list[Variant] = []
    for spec, varied, seed in itertools.product(specs, _vary_combinations(sweep.vary), sweep.seeds or [None]):
        label = _label(spec.label if labelled else None, varied)
        changes = {**spec.changes, **varied} | ({"run.seed": seed} if seed is not None else {})
        source = data if spec.without_teacher is None else _without(data, spec.without_teacher)
        where = f"sweep variant {label!r}" + (f" seed {seed}" if seed is not None else "")
        config = parse_config(source, where, _overrides(changes))
        meta = {"changes": {**spec.changes, **varied}}
        if spec.without_teacher:
            meta["without_teacher"] = spec.without_teacher
        variants.append(Variant(label, seed, config, meta))
    _check_distinct(variants)
    return variants


def _check_distinct(variants: Sequence[Variant]) -> None:
    seen: dict[str, Variant] = {}
    for v in variants:
        other = seen.setdefault(v.run_id, v)
        if other is not v:
            raise ConfigError(
                f"sweep variants {other.label!r} and {v.label!r} (seed {v.seed}) are the same configuration "
                f"(run {v.run_id}): drop one"
            )


def reference_label(sweep: SweepConfig, variants: Sequence[Variant]) -> str:
    """The label paired differences are taken against: `sweep.reference`, else the first variant's."""
    labels = list(dict.fromkeys(v.label for v in variants))
    if sweep.reference is None:
        return labels[0]
    if sweep.reference not in labels:
        raise ConfigError(f"sweep.reference {sweep.reference!r} is not a variant label ({labels})")
    return sweep.reference


def sweep_id(base: FairConfig, sweep: SweepConfig, variants: Sequence[Variant]) -> str:
    """`sweep.name`, else '<run name>-sweep-<hash of the variants' run ids and labels>'."""
    if sweep.name:
        return sweep.name
    digest = stable_hash(sorted((v.label, v.run_id) for v in variants))[:8]
    prefix = base.run.name if "sweep" in base.run.name else f"{base.run.name}-sweep"
    return f"{prefix}-{digest}"


def read_sweep_file(path: str | Path) -> dict[str, Any]:
    """The `sweep:` section of a config file or preset ({} when there is none)."""
    file = config_path(path)
    if not file.is_file():
        return {}
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    return dict(data.get("sweep") or {}) if isinstance(data, dict) else {}


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """`--vary key=v1,v2` options as a `vary` mapping (each value read as YAML: 0.3, true, [a, b])."""
    vary: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"--vary {item!r}: expected KEY=V1,V2,..., e.g. training.alpha=0.3,0.5")
        try:
            vary[key.strip()] = [yaml.safe_load(v) for v in _split_values(raw)]
        except yaml.YAMLError:
            raise ConfigError(f"--vary {item!r}: a value is not valid YAML; quote it") from None
    return vary


def _split_values(raw: str) -> list[str]:
    """Split on commas outside brackets, so `training.teachers=[gpt],[gpt, gemini]` gives two values."""
    values, depth, current = [], 0, ""
    for char in raw:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += char
    return [v.strip() for v in [*values, current] if v.strip()]


def sweep_config(section: dict[str, Any], **options: Any) -> SweepConfig:
    """The file's `sweep:` section with command-line options laid over it (None options are left out)."""
    data = {**section, **{k: v for k, v in options.items() if v not in (None, [], {})}}
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as err:
        lines = [
            f"sweep.{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        ]
        raise ConfigError("; ".join(lines)) from None
