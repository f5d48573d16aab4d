"""The `sweep:` section of a sweep file: built-in ablations, varied settings, explicit variants, seeds.

A sweep file is a run config with this extra section (`fair run` ignores it; `fair sweep` reads it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from fair_core.config.base import Section
from fair_core.config.run import check_folder_name


class VariantSpec(Section):
    label: str = Field(min_length=1, max_length=80, description="The variant's name in tables and plots.")
    set: dict[str, Any] = Field(
        default_factory=dict, description="Config overrides of this variant, dotted key -> value."
    )


class SweepConfig(Section):
    name: str | None = Field(
        None,
        description="The sweep's id (its folder under data_dir/sweeps); empty: '<run name>-sweep-<hash>' "
        "of its variants.",
    )
    ablation: Literal["paper", "committee"] | None = Field(
        None,
        description="A built-in set of variants: 'paper' = fair, no-review, no-feedback, only-<teacher> "
        "for each teacher, all-rationales; 'committee' = fair and without-<teacher> for each teacher.",
    )
    variants: list[VariantSpec] = Field(
        default_factory=list, description="Explicit variants (after the ablation's, if any)."
    )
    vary: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Settings to vary, dotted key -> values: every variant runs with every combination.",
    )
    seeds: list[int] = Field(
        default_factory=list, description="run.seed values: every variant runs once per seed (empty: once)."
    )
    reference: str | None = Field(
        None, description="The label paired differences are measured against (empty: the first variant)."
    )
    parallel: int = Field(
        1,
        ge=1,
        le=16,
        description="Variants run at once (each as its own subflow); stages they share run once anyway.",
    )

    @field_validator("name")
    @classmethod
    def _safe(cls, value: str | None) -> str | None:
        return None if value is None else check_folder_name(value, "a sweep name")

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds {value}: each seed once")
        return value
