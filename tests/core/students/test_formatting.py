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
