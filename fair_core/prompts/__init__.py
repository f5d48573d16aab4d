"""Prompt templates and builders for the student, the teachers, peer review and training."""

from fair_core.prompts.builder import PromptError, PromptSet, gold_text, options_block, question_block

__all__ = ["PromptError", "PromptSet", "gold_text", "options_block", "question_block"]
