"""Offline simulator settings: serve every teacher locally, its error rates, latency and fault drills."""

from __future__ import annotations

from pydantic import Field

from fair_core.config.base import Section


class SimulatorConfig(Section):
    enabled: bool = Field(False, description="Serve every teacher from the local simulator (offline demo).")
    wrong_rate: float = Field(0.15, ge=0, le=1, description="Share of rationales the simulator gets wrong.")
    wrong_rates: dict[str, float] = Field(
        default_factory=dict,
        description="Per-teacher share of wrong rationales, by teacher name (e.g. {gpt: 0.1, mixtral: 0.4}); "
        "teachers not named use wrong_rate.",
    )
    unparseable_rate: float = Field(0.02, ge=0, le=1, description="Share of reviews with no score.")
    latency_ms: float = Field(0.0, ge=0, description="Delay before each simulated reply.")
    fail_teacher: str | None = Field(
        None, description="Fault drill: this teacher's every request gets HTTP 500 (see fail_attempts)."
    )
    fail_attempts: int = Field(
        1, ge=0, description="Fault drill: how many attempts (flow runs) of a run see fail_teacher fail."
    )
