"""Run-level settings: name, data folder, rounds, seed, budget and teacher-task retries."""

from __future__ import annotations

from pydantic import Field

from fair_core.config.base import Section


class RunSettings(Section):
    name: str = Field("fair", description="Run name; the run id is derived from it and the config hash.")
    run_id: str | None = Field(
        None, description="Fixed run id (folder under data_dir/runs). Empty: '<name>-<config hash[:8]>'."
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
