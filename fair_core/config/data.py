"""Dataset settings: which task, from the Hub, local files or reasoning-gym, and how much of it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fair_core.config.base import Section

DatasetName = Literal["gsm8k", "svamp", "strategyqa", "logiqa", "reasoning_gym"]


class GymConfig(Section):
    task: str = Field("chain_sum", description="reasoning-gym dataset name, e.g. chain_sum or gsm_symbolic.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword options of that dataset.")
    train_size: int = Field(64, ge=1, description="Generated training questions.")
    test_size: int = Field(32, ge=1, description="Generated test questions (a disjoint seed).")


class DatasetConfig(Section):
    name: DatasetName = Field("gsm8k", description="Which task: the paper's four or a reasoning-gym task.")
    source: Literal["hub", "local"] = Field(
        "hub", description="'hub': the paper's Hugging Face dataset; 'local': raw public files under `path`."
    )
    path: str | None = Field(None, description="Folder or file of the raw dataset (source: local).")
    hub_id: str | None = Field(None, description="Override the Hub dataset id (source: hub).")
    train_split: str = Field("train", description="Split answered by the student each round.")
    test_split: str = Field("test", description="Split used for evaluation.")
    train_limit: int | None = Field(None, ge=1, description="Use only the first N training rows.")
    test_limit: int | None = Field(None, ge=1, description="Use only the first N test rows.")
    max_input_tokens: int | None = Field(
        4096,
        ge=1,
        description="Longest example accepted, in tokens of its question, context and options together "
        "(the prompt template's own text comes on top): estimated as characters / 4 (rounded up) unless "
        "`tokenizer` is set. Longer examples are skipped or truncated (`too_long`) at load time and listed "
        "in the round manifest. Empty: no limit.",
    )
    too_long: Literal["skip", "truncate"] = Field(
        "skip",
        description="An example over max_input_tokens: 'skip' it (reported by id), or 'truncate' its "
        "context, then its question, keeping their beginning and end (also reported by id).",
    )
    tokenizer: str | None = Field(
        None,
        description="Count max_input_tokens with this tokenizer instead of estimating: a local model folder "
        "(e.g. the student's) or a Hub id already in the local cache (never downloaded).",
    )
    gym: GymConfig = Field(
        default_factory=GymConfig, description="reasoning-gym settings (name: reasoning_gym)."
    )
