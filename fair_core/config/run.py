"""Run-level settings: name, data folder, rounds, seed, budget and teacher-task retries."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from fair_core.config.base import Section

#: A run name or id is a folder under data_dir/runs: letters, digits, '.', '_' and '-', starting with a
#: letter or digit (no path separators, no '..', nothing that leaves data_dir).
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_folder_name(value: str, what: str) -> str:
    """`value` if it is a safe folder name, else ValueError naming `what` and the allowed characters."""
    if not FOLDER_NAME.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{what} {value!r} is not a safe folder name: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..')"
        )
    return value


class RunSettings(Section):
    name: str = Field(
        "fair",
        description="Run name; the run id is derived from it and the config hash. Letters, digits, '.', "
        "'_' and '-', starting with a letter or digit.",
    )
    run_id: str | None = Field(
        None,
        description="Fixed run id (folder under data_dir/runs; same characters as name). Empty: "
        "'<name>-<config hash[:8]>'.",
    )
    data_dir: str = Field("data", description="Where runs, caches, models and Prefect results are kept.")
    rounds: int = Field(1, ge=1, le=20, description="Number of FAIR rounds (student_k -> student_k+1).")
    seed: int = Field(0, description="Seed for sampling, data shuffles and training.")
    budget_usd: float | None = Field(
        None, gt=0, description="Stop sending teacher requests once this much has been spent (USD)."
    )
    teacher_task_retries: int = Field(
        2, ge=0, description="Prefect retries of a teacher task that ended with failed requests."
    )
    teacher_task_retry_delay_s: float = Field(
        10.0, ge=0, description="First delay before such a retry; it doubles each time (with jitter)."
    )
    teacher_task_size: int | None = Field(
        None,
        ge=1,
        description="Most requests per Prefect teacher task (teacher x role x shard); empty: one task "
        "per teacher and role. A failing provider fails only its own tasks; a retry re-sends their missing "
        "requests.",
    )

    @field_validator("name", "run_id")
    @classmethod
    def _folder_name(cls, value: str | None) -> str | None:
        return None if value is None else check_folder_name(value, "a run name or id")
