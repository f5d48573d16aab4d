"""Prompt settings: a folder of template files replacing the built-in ones, and the teachers' hint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fair_core.config.base import Section


class PromptConfig(Section):
    template_dir: str | None = Field(
        None, description="Folder of template files replacing the built-in ones."
    )
    teacher_hint: Literal["answer", "solution"] = Field(
        "answer",
        description="Hint in the teachers' feedback and review prompts: 'answer', the gold final answer; "
        "'solution', the dataset's worked solution too where it has one (GSM8K's solution, StrategyQA's "
        "facts, SVAMP's equation; the paper code gives it for GSM8K and StrategyQA). Examples without a "
        "solution get the answer alone.",
    )
