"""The whole FAIR config (`FairConfig`), YAML loading, KEY=VALUE overrides and the config hash."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from fair_core.config.base import ConfigError, Section
from fair_core.config.cache import CacheConfig
from fair_core.config.data import DatasetConfig
from fair_core.config.evaluation import EvaluationConfig
from fair_core.config.presets import config_path, list_presets
from fair_core.config.prompts import PromptConfig
from fair_core.config.review import ReviewConfig
from fair_core.config.run import RunSettings
from fair_core.config.simulator import SimulatorConfig
from fair_core.config.stages import StagesConfig
from fair_core.config.student import StudentConfig
from fair_core.config.teachers import TeacherConfig
from fair_core.config.training import TrainingConfig
from fair_core.identity import result_hash, section_paths
from fair_core.store.location import REMOTE_SCHEMES, is_remote

#: The top-level section of a sweep file (fair_core/config/sweep.py); a run of the file leaves it out.
SWEEP_SECTION = "sweep"


class FairConfig(Section):
    """One FAIR experiment: data, student, teacher committee, review, training and evaluation."""

    run: RunSettings = Field(default_factory=RunSettings)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    teachers: list[TeacherConfig] = Field(default_factory=list, description="The teacher committee.")
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    prompts: PromptConfig = Field(default_factory=PromptConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    stages: StagesConfig = Field(default_factory=StagesConfig)

    @model_validator(mode="after")
    def _check_storage(self) -> FairConfig:
        """A `run.data_dir` on object storage cannot hold the SQLite reply cache: it needs `cache.url`."""
        where = self.run.data_dir
        if "://" in where and not is_remote(where):
            raise ValueError(
                f"run.data_dir {where!r}: unknown storage scheme; use a local path or one of "
                f"{', '.join(sorted(f'{s}://' for s in REMOTE_SCHEMES))}"
            )
        if is_remote(where) and not self.cache.url:
            raise ValueError(
                f"run.data_dir {where!r} is object storage, which cannot hold the SQLite reply cache: set "
                "cache.url (a PostgreSQL URL shared by the workers, or a local SQLite file path)"
            )
        return self

    @model_validator(mode="after")
    def _check_committee(self) -> FairConfig:
        names = [t.name for t in self.teachers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"teachers: duplicated names {duplicated}")
        if not self.teachers:
            raise ValueError("teachers: at least one teacher is needed")
        unknown = sorted(set(self.training.teachers or ()) - set(names))
        if unknown:
            raise ValueError(f"training.teachers: {unknown} not in the committee {names}")
        if self.simulator.fail_teacher and self.simulator.fail_teacher not in names:
            raise ValueError(f"simulator.fail_teacher: {self.simulator.fail_teacher!r} not in {names}")
        rates = self.simulator.wrong_rates
        if sorted(set(rates) - set(names)):
            raise ValueError(f"simulator.wrong_rates: {sorted(set(rates) - set(names))} not in {names}")
        if any(not 0 <= r <= 1 for r in rates.values()):
            raise ValueError(f"simulator.wrong_rates: each rate must be between 0 and 1, got {rates}")
        if self.review.enabled and len(self.teachers) < 2:
            raise ValueError(
                "review.enabled needs at least two teachers (nobody reviews their own rationale)"
            )
        problem = self.review.committee_problem(len(self.teachers))
        if problem:
            raise ValueError(problem)
        return self

    def config_hash(self) -> str:
        """Hash of everything that can change results (`fair_core.identity`: volatile fields left out)."""
        return result_hash(self)

    def run_id(self) -> str:
        return self.run.run_id or f"{self.run.name}-{self.config_hash()[:8]}"


@functools.cache
def _section_paths() -> dict[type[BaseModel], str]:
    return section_paths(FairConfig)


def section_path(section: type[BaseModel]) -> str:
    """Dotted path of a section class in `FairConfig`: `TeacherConfig` -> `teachers.*` (KeyError: none)."""
    return _section_paths()[section]


def _step(node: Any, part: str, done: str, key: str) -> Any:
    """The child `part` of `node` (creating a missing section of a mapping); ConfigError for a bad path."""
    where = f"{done}.{part}" if done else part
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            span = f"0-{len(node) - 1}" if node else "none: the list is empty"
            raise ConfigError(
                f"override {key!r}: {where} is not an item of {done} (indexes: {span}); "
                "add list items in the config file"
            )
        return node[int(part)]
    if isinstance(node, dict):
        if node.get(part) is None:
            node[part] = {}
        return node[part]
    raise ConfigError(f"override {key!r}: {done} is a value ({node!r}), not a section with {part!r}")


def _apply_override(data: dict[str, Any], dotted: str) -> None:
    if "=" not in dotted:
        raise ConfigError(f"override {dotted!r}: expected KEY=VALUE, e.g. training.epochs=2")
    key, raw = dotted.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not all(p.strip() for p in parts):
        raise ConfigError(f"override {dotted!r}: empty part in the key {key!r}, e.g. training.epochs=2")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        detail = str(err).splitlines()[0]
        raise ConfigError(f"override {dotted!r}: the value is not valid YAML ({detail}); quote it") from None
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        node = _step(node, part, ".".join(parts[:i]), key)
    last, done = parts[-1], ".".join(parts[:-1])
    if isinstance(node, list):
        _step(node, last, done, key)  # an existing index, or a clear error
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"override {key!r}: {done} is a value ({node!r}), not a section with {last!r}")


def parse_config(data: dict[str, Any], source: str = "<config>", overrides: list[str] = ()) -> FairConfig:
    """Validate a config dict; errors name `source` and each bad field."""
    data = copy.deepcopy(dict(data or {}))
    for dotted in overrides:
        _apply_override(data, dotted)
    try:
        return FairConfig.model_validate(data)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"])
            message = e["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {message}" if where else message)
        if len(lines) == 1:
            raise ConfigError(f"{source}: invalid configuration: {lines[0]}") from None
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(f"  {x}" for x in lines)) from None


def load_config(path: str | Path, overrides: list[str] = ()) -> FairConfig:
    """Read a YAML config file or a packaged preset by name (`demo`), apply KEY=VALUE overrides, validate."""
    path = config_path(path)
    if not path.is_file():
        known = ", ".join(list_presets())
        raise ConfigError(f"{path}: config file not found (nor a preset: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data = {k: v for k, v in (data or {}).items() if k != SWEEP_SECTION}  # read by `fair sweep` only
    return parse_config(data, str(path), overrides)
