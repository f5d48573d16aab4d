"""Tests of the prompt wrapping shared by inference and training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fair_core.students.formatting import encode_prompt, format_prompt


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture()
def plain_tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = None
    return tok


def test_chat_template_used_when_present(tokenizer: Any) -> None:
    text = format_prompt(tokenizer, "What is 2 + 3?", None, None)
    assert text == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    with_system = format_prompt(tokenizer, "Q", True, "Be brief.")
    assert (
        with_system
        == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    )


def test_chat_template_off(tokenizer: Any) -> None:
    assert format_prompt(tokenizer, "What is 2 + 3?", False, None) == "What is 2 + 3?"
    assert format_prompt(tokenizer, "Q", False, "Be brief.") == "Be brief.\n\nQ"


def test_tokenizer_without_template(plain_tokenizer: Any) -> None:
    assert format_prompt(plain_tokenizer, "Q", None, None) == "Q"
    with pytest.raises(ValueError, match="no chat template"):
        format_prompt(plain_tokenizer, "Q", True, None)


def test_encode_prompt_matches_format(tokenizer: Any) -> None:
    ids = encode_prompt(tokenizer, "What is 2 + 3?", None, None)
    assert tokenizer.decode(ids) == format_prompt(tokenizer, "What is 2 + 3?", None, None)
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")


# --- issue 12: `student.chat_template: raw` (the paper code) applies everywhere -------------------------


def test_chat_template_words_in_config() -> None:
    from fair_core.config import StudentConfig

    words = {"raw": False, "none": False, "auto": None, "chat": True, False: False, None: None}
    assert {w: StudentConfig(chat_template=w).chat_template for w in words} == words
    with pytest.raises(ValueError, match=r"vllm\.api is 'chat'"):
        StudentConfig(chat_template="raw", vllm={"base_url": "http://127.0.0.1:8000/v1", "api": "chat"})


def test_raw_option_applies_no_chat_template_in_inference_and_training(
    tokenizer: Any, tiny_model_dir: Path
) -> None:
    """The tiny student has a ChatML template; with `raw` neither the backend (inference and evaluation)
    nor the training tokenization uses it: both feed the plain prompt's own tokens."""
    from fair_core.config import StudentConfig
    from fair_core.records import TrainSample
    from fair_core.refs import ModelRef
    from fair_core.students.factory import open_student
    from fair_core.students.vllm_engine import chat_setting
    from fair_core.training.collate import encode_samples

    assert tokenizer.chat_template  # what `auto` would apply
    student = StudentConfig(model=str(tiny_model_dir), backend="transformers", chat_template="raw")
    prompt = "### Instruction:\nAnswer the question.\n\n### Input:\nWhat is 2 + 3?\n\n### Response:"
    plain_ids = tokenizer(prompt)["input_ids"]
    marker = tokenizer.convert_tokens_to_ids("<|im_start|>")
    backend = open_student(student, ModelRef(str(tiny_model_dir)))
    try:
        assert backend.encode(prompt) == plain_ids and marker not in plain_ids
    finally:
        backend.close()
    sample = TrainSample("s", "rationale", prompt, "5")
    features = encode_samples([sample], tokenizer, 512, student.chat_template, student.system_prompt).features
    assert features[0]["input_ids"][: features[0]["prompt_len"]] == plain_ids
    # the vLLM backend passes False to its worker as "off", which reads it back as no template
    assert chat_setting("off") is False
