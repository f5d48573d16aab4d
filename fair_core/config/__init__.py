"""Typed FAIR run configuration (pydantic), loaded from YAML: `load_config("demo")` or a file path.

One module per section (run, data, student, teachers, review, training, evaluation, simulator, prompts,
cache, stages: where each stage runs);
`loading` holds `FairConfig` and the loaders, `presets` the packaged preset files.
"""

from fair_core.config.base import ConfigError, Section
from fair_core.config.cache import CacheConfig
from fair_core.config.data import DatasetConfig, DatasetName, GymConfig
from fair_core.config.evaluation import EvaluationConfig
from fair_core.config.loading import FairConfig, load_config, parse_config, section_path
from fair_core.config.presets import list_presets, preset_path
from fair_core.config.prompts import PromptConfig
from fair_core.config.review import ReviewConfig
from fair_core.config.run import RunSettings
from fair_core.config.simulator import SimulatorConfig
from fair_core.config.student import StudentConfig, VllmConfig
from fair_core.config.teachers import DEFAULT_KEY_ENV, ProviderName, TeacherConfig
from fair_core.config.training import TrainingConfig

__all__ = [
    "DEFAULT_KEY_ENV",
    "CacheConfig",
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
    "VllmConfig",
    "list_presets",
    "load_config",
    "parse_config",
    "preset_path",
    "section_path",
]
