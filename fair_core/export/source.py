"""What an export reads from a finished run: its stored config, the rounds to export, their summaries and
the student to ship; and the config as it may be published (secrets redacted, keys only named)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.config import ConfigError, FairConfig, parse_config
from fair_core.runs import TRAINED_MODEL
from fair_core.store import RunStore

REDACTED = "<redacted>"
#: Config keys whose value would be a secret itself (a key that names one, `*_env`, stays).
_SECRET_KEY = re.compile(
    r"^(.*_)?(api_?key|token|password|passwd|secret|access_key|auth|authorization)$", re.I
)
_NAMES_A_SECRET = ("_env", "api_key_secret")  # an environment variable or Prefect Secret block *name*
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class ExportError(ValueError):
    """The run cannot be exported as asked (one line naming what is at fault and how to fix it)."""


@dataclass(frozen=True)
class ExportSource:
    """A run to export: `rounds` 0..`final_round` (all finished), the student `final_round` trained
    (`model_dir`; from an earlier round when the last ones trained nothing; None when none trained)."""

    data_dir: Path
    run: RunStore
    config: FairConfig
    config_data: dict[str, Any]
    rounds: list[int]
    summaries: dict[int, dict[str, Any]]
    model_dir: Path | None
    model_round: int | None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def final_round(self) -> int:
        return self.rounds[-1]


def locate(data_dir: str | Path, run_id: str, round_index: int | None = None) -> ExportSource:
    """The run `run_id` under `data_dir`, exported up to round `round_index` (default: its last finished
    round); ExportError when the run, its config or a finished round is missing."""
    run = RunStore(data_dir, run_id)
    if not run.config_path.is_file():
        known = sorted(p.name for p in run.root.parent.glob("*") if (p / "config.json").is_file())
        raise ExportError(
            f"run {run_id!r} not found under {Path(data_dir).expanduser() / 'runs'} "
            f"(runs there: {', '.join(known) or 'none'}; give --data-dir)"
        )
    try:
        data = json.loads(run.config_path.read_text(encoding="utf-8"))
        config = parse_config(data)
    except (json.JSONDecodeError, ConfigError) as err:
        raise ExportError(f"{run.config_path}: not a readable run config ({err})") from err
    summaries = {k: s for k in run.rounds() if (s := run.round(k).manifest().get("summary"))}
    if not summaries:
        raise ExportError(f"run {run_id!r} has no finished round yet: finish it (fair resume {run_id})")
    last = max(summaries)
    final = last if round_index is None else round_index
    if final not in summaries:
        raise ExportError(
            f"--round {round_index}: round {round_index} of run {run_id!r} is not finished "
            f"(finished: {', '.join(map(str, sorted(summaries)))})"
        )
    rounds = [k for k in range(final + 1) if k in summaries]
    model_dir, model_round = None, None
    for k in reversed(rounds):  # a round that trained nothing kept the student of the round before
        folder = run.round(k).path / TRAINED_MODEL
        if folder.is_dir():
            model_dir, model_round = folder, k
            break
    return ExportSource(
        Path(data_dir).expanduser(), run, config, data, rounds, summaries, model_dir, model_round
    )


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.match(key)) and not key.endswith(_NAMES_A_SECRET)


def public_config(data: Any) -> Any:
    """The config with nothing secret in it: values under secret-looking keys redacted, credentials in
    URLs removed. (A FAIR config holds no key: teachers name an environment variable or a Secret block.)"""
    if isinstance(data, Mapping):
        return {
            k: (REDACTED if _is_secret_key(str(k)) and v not in (None, "") else public_config(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [public_config(v) for v in data]
    if isinstance(data, str):
        return _URL_CREDENTIALS.sub("", data)
    return data


def secret_values(config: FairConfig, extra_env: Iterable[str] = ()) -> list[str]:
    """The values of the environment variables holding this run's keys (and `extra_env`, e.g. HF_TOKEN),
    where set: an export checks that none of them appears in what it writes."""
    names = {t.key_env() for t in config.teachers} | {config.student.vllm.api_key_env, *extra_env}
    return [v for name in sorted(n for n in names if n) if len(v := os.environ.get(name, "")) >= 6]
