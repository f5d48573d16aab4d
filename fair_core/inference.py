"""Student answering, pure recipe: prompts -> a student backend -> parsed, checked generation rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fair_core.answers import is_correct
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.students.base import GenerationParams, StudentBackend


def answer_examples(
    backend: StudentBackend,
    examples: Sequence[Example],
    prompts: PromptSet,
    params: GenerationParams,
    *,
    split: str,
    model_label: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the `student_outputs` / `evaluation` tables: prompt, completion, parsed answer, correct.

    Each prompt is `prompts.answer_prompt(example)`: the student prompt, or the training layout."""
    texts = [prompts.answer_prompt(e) for e in examples]
    generations = backend.generate(texts, params, progress=progress)
    rows = []
    for example, prompt, generation in zip(examples, texts, generations, strict=True):
        predicted, correct = is_correct(generation.text, example.answer, example.kind, example.options)
        rows.append(
            {
                "example_id": example.id,
                "split": split,
                "model": model_label,
                "prompt": prompt,
                "completion": generation.text,
                "completion_tokens": generation.completion_tokens,
                "predicted": predicted,
                "gold": example.answer,
                "correct": correct,
            }
        )
    return rows


def mistakes_from_outputs(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The round's mistakes: every answer that is not correct (unparseable answers included)."""
    return [
        {
            "example_id": r["example_id"],
            "student_completion": r["completion"],
            "student_prediction": r["predicted"],
            "gold": r["gold"],
        }
        for r in rows
        if not r["correct"]
    ]
