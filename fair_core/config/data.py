"""Dataset settings: which task, from the Hub, local files or reasoning-gym, and how much of it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fair_core.config.base import Section

DatasetName = Literal["gsm8k", "svamp", "strategyqa", "logiqa", "reasoning_gym", "custom"]
CustomKind = Literal["numeric", "boolean", "choice", "exact", "math", "checker"]


class CustomColumns(Section):
    question: str = Field("question", description="Column of the question text.")
    answer: str = Field("answer", description="Column of the gold answer.")
    context: str | None = Field(None, description="Column of a passage shown before the question.")
    options: str | None = Field(
        None, description="Column of the options (a list, or {text: [...]} as in ARC); answer_kind choice."
    )
    solution: str | None = Field(None, description="Column of a worked solution (teacher hint).")
    id: str | None = Field(None, description="Column of the row id; empty: '<split>-<row index>'.")


class CustomDatasetConfig(Section):
    """Any task (`dataset.name: custom`): one file per split or a Hub dataset, with a column mapping."""

    name: str = Field("custom", description="Short task name: examples are tagged 'custom/<name>'.")
    path: str | None = Field(
        None, description="A .jsonl/.json/.parquet/.csv file (all splits, see split_column) or a folder."
    )
    hub_id: str | None = Field(None, description="Hugging Face dataset id, instead of path.")
    hub_config: str | None = Field(None, description="Hub dataset config (subset), e.g. ARC-Challenge.")
    splits: dict[str, str] = Field(
        default_factory=dict,
        description="Split name -> file (relative to path's folder) or, with split_column, the column "
        "value; with hub_id, the Hub split name. Empty: the split name itself.",
    )
    split_column: str | None = Field(None, description="Column holding each row's split (one file).")
    columns: CustomColumns = Field(default_factory=CustomColumns, description="Column mapping.")
    answer_kind: CustomKind = Field(
        "exact",
        description="How answers are checked: numeric, boolean, choice (gold: a letter, or an option's "
        "text), exact (normalised text), math (math-verify equivalence), checker (`checker`).",
    )
    checker: str | None = Field(
        None, description="'module:function' called as f(predicted, gold) -> bool (answer_kind: checker)."
    )


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
    custom: CustomDatasetConfig = Field(
        default_factory=CustomDatasetConfig,
        description="Any task's settings (name: custom): file or Hub id, columns, answer kind.",
    )
