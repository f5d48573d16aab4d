"""Typed FAIR run configuration (pydantic), loaded from YAML: `load_config("configs/demo.yaml")`.

One module per section (run, data, student, teachers, training); `loading` holds `FairConfig` and the loaders.
"""

from fair_core.config.base import ConfigError, Section
from fair_core.config.data import DatasetConfig, DatasetName, GymConfig
from fair_core.config.loading import FairConfig, load_config, parse_config
from fair_core.config.run import PromptConfig, RunSettings, SimulatorConfig
from fair_core.config.student import EvaluationConfig, StudentConfig
from fair_core.config.teachers import DEFAULT_KEY_ENV, ProviderName, ReviewConfig, TeacherConfig
from fair_core.config.training import TrainingConfig

__all__ = [
    "DEFAULT_KEY_ENV",
    "ConfigError",
    "DatasetConfig",
    "DatasetName",
    "EvaluationConfig",
    "FairConfig",
    "GymConfig",
    "PromptConfig",
    "ProviderName",
    "ReviewConfig",
    "RunSettings",
    "Section",
    "SimulatorConfig",
    "StudentConfig",
    "TeacherConfig",
    "TrainingConfig",
    "load_config",
    "parse_config",
]
