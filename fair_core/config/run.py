"""Run-level settings: name, data folder, rounds, seed; prompt templates; the offline simulator."""

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


class PromptConfig(Section):
    template_dir: str | None = Field(
        None, description="Folder of template files replacing the built-in ones."
    )


class SimulatorConfig(Section):
    enabled: bool = Field(False, description="Serve every teacher from the local simulator (offline demo).")
    wrong_rate: float = Field(0.15, ge=0, le=1, description="Share of rationales the simulator gets wrong.")
    unparseable_rate: float = Field(0.02, ge=0, le=1, description="Share of reviews with no score.")
    latency_ms: float = Field(0.0, ge=0, description="Delay before each simulated reply.")
    fail_teacher: str | None = Field(
        None, description="Fault drill: this teacher's every request gets HTTP 500 (see fail_attempts)."
    )
    fail_attempts: int = Field(
        1, ge=0, description="Fault drill: how many attempts (flow runs) of a run see fail_teacher fail."
    )
