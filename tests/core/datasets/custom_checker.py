"""A user answer checker for the custom-dataset tests: the same set of comma-separated items."""

from __future__ import annotations


def same_items(predicted: str, gold: str) -> bool:
    def items(text: str) -> set[str]:
        return {part.strip().lower() for part in text.replace(" and ", ",").split(",") if part.strip()}

    return items(predicted) == items(gold)
