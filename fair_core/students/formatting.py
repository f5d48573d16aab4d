"""Turns a plain student prompt into the model's input text; shared by inference and training."""

from __future__ import annotations

from typing import Any


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def uses_chat_template(tokenizer: Any, chat_template: bool | None) -> bool:
    """Resolve the `chat_template` setting: None means "use it when the tokenizer has one"."""
    if chat_template is None:
        return has_chat_template(tokenizer)
    if chat_template and not has_chat_template(tokenizer):
        raise ValueError("chat_template=True but the tokenizer has no chat template")
    return chat_template


def format_prompt(tokenizer: Any, text: str, chat_template: bool | None, system_prompt: str | None) -> str:
    """The exact text fed to the student for `text`, up to where its answer starts.

    With a chat template: `[system_prompt?, user: text]` rendered with `add_generation_prompt=True`, so the
    string ends with the assistant header. Without one: `text`, preceded by `system_prompt` and a blank
    line when one is given. This is the single place where chat wrapping happens.
    """
    if not uses_chat_template(tokenizer, chat_template):
        return f"{system_prompt}\n\n{text}" if system_prompt else text
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": text})
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return str(rendered)


def encode_prompt(
    tokenizer: Any, text: str, chat_template: bool | None, system_prompt: str | None
) -> list[int]:
    """Token ids of `format_prompt(...)`.

    A rendered chat template already holds every special token it wants (BOS included), so it is encoded
    without adding special tokens; plain text gets the tokenizer's usual ones.
    """
    chat = uses_chat_template(tokenizer, chat_template)
    formatted = format_prompt(tokenizer, text, chat, system_prompt)
    return list(tokenizer(formatted, add_special_tokens=not chat)["input_ids"])
