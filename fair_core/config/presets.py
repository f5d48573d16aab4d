"""The preset configs shipped in the package (fair_core/presets/*.yaml): their names and paths."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fair_core.config.base import ConfigError

SUFFIX = ".yaml"


def presets_dir() -> Path:
    """The installed folder of preset files (a checkout's or a wheel's `fair_core/presets`)."""
    return Path(str(files("fair_core") / "presets"))


def list_presets() -> list[str]:
    """Names of the packaged presets, sorted: `demo`, `paper-gsm8k`, ..."""
    return sorted(p.name.removesuffix(SUFFIX) for p in presets_dir().glob(f"*{SUFFIX}"))


def _preset_file(name: str) -> Path:
    return presets_dir() / f"{name}{SUFFIX}"


def preset_path(name: str) -> Path:
    """The file of preset `name` (ConfigError naming the known ones if there is none)."""
    path = _preset_file(name)
    if not path.is_file():
        raise ConfigError(f"no preset {name!r} (known: {', '.join(list_presets())})")
    return path


def config_path(path_or_name: str | Path) -> Path:
    """An existing file as given, else the preset of that name, else the path as given (not found later)."""
    path = Path(path_or_name)
    if path.is_file() or path.suffix or len(path.parts) > 1:
        return path
    known = _preset_file(path.name)
    return known if known.is_file() else path
