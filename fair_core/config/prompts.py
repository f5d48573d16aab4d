"""Prompt settings: a folder of template files replacing the built-in ones."""

from __future__ import annotations

from pydantic import Field

from fair_core.config.base import Section


class PromptConfig(Section):
    template_dir: str | None = Field(
        None, description="Folder of template files replacing the built-in ones."
    )
