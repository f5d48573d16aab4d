"""Input limits checked at load time: text that cannot be stored, and examples over `max_input_tokens`.

What is counted is the example's own text, the question, its context and its options together (the prompt
template adds its fixed text on top). Without `dataset.tokenizer` the count is an estimate, characters / 4
rounded up (about right for English with the students' BPE tokenizers; digits and non-Latin text count
more in truth); with it, the tokenizer's own count (`add_special_tokens=False`), loaded from local files
only. A text of at most `max_input_tokens` UTF-8 bytes always fits (no tokenizer makes more tokens than
bytes), so it is never tokenized.

`too_long: skip` drops the example (a `RowError`, reported by id); `truncate` shortens the context first,
then the question, to fit, keeping the beginning and the end (the question is usually the last sentence)
with " [...] " between; the context is cut first (down to half the room), then the question; the options are
never cut (an example whose options leave fewer than 32 tokens is skipped).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fair_core.config import DatasetConfig
from fair_core.datasets.base import DatasetError, RowError
from fair_core.records import Example

CHARS_PER_TOKEN = 4
ELLIPSIS = " [...] "
HEAD_SHARE = 2 / 3  # of a truncated text's budget kept from its beginning; the rest from its end
SURROGATE = re.compile("[\ud800-\udfff]")
MIN_TRUNCATED = 32  # fewest tokens left for question and context that `truncate` cuts to; else skipped

Counter = Callable[[str], int]
# An input check: the example as loaded (or shortened) and, when shortened, what was done; or RowError.
InputCheck = Callable[[Example], tuple[Example, str | None]]


def estimate_tokens(text: str) -> int:
    """Estimated tokens of `text`: its characters / 4, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


@functools.cache
def _tokenizer(ref: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise DatasetError(
            f"dataset.tokenizer {ref!r}: counting tokens with a tokenizer needs the transformers package"
        ) from None
    try:
        local = Path(ref).expanduser()
        return AutoTokenizer.from_pretrained(str(local) if local.exists() else ref, local_files_only=True)
    except Exception as err:  # not a folder, not in the local Hub cache, broken files
        raise DatasetError(
            f"dataset.tokenizer {ref!r}: no tokenizer there on this machine ({type(err).__name__}); "
            "give a local model folder or a Hub id already downloaded, or leave it empty to estimate"
        ) from None


def token_counter(cfg: DatasetConfig) -> tuple[Counter, str]:
    """How tokens are counted for `cfg`, and the unit's name for messages ('estimated' or 'tokenizer')."""
    if not cfg.tokenizer:
        return estimate_tokens, "estimated"
    tokenizer = _tokenizer(cfg.tokenizer)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count, "tokenizer"


def _has_surrogate(text: str | None) -> bool:
    return text is not None and SURROGATE.search(text) is not None


def input_check(cfg: DatasetConfig) -> InputCheck:
    """The check `collect` applies to every converted example of `cfg` (see the module docstring)."""
    limit = cfg.max_input_tokens
    unit = "tokenizer" if cfg.tokenizer else "estimated"
    counter: Counter | None = None

    def count(text: str | None) -> int:
        nonlocal counter
        if not text:
            return 0
        if counter is None:
            counter, _ = token_counter(cfg)
        return counter(text)

    def check(example: Example) -> tuple[Example, str | None]:
        texts = [example.question, example.context or "", *(example.options or ())]
        if any(_has_surrogate(t) for t in texts):
            raise RowError("invalid text: a lone surrogate (not encodable as UTF-8)", example.id)
        if limit is None or sum(len(t.encode("utf-8")) for t in texts) <= limit:
            return example, None  # no tokenizer makes more tokens than bytes
        question, context = count(example.question), count(example.context)
        options = sum(count(o) for o in example.options or ())
        total = question + context + options
        if total <= limit:
            return example, None
        detail = f"question {question}, context {context}, options {options}"
        if cfg.too_long == "skip" or limit - options < MIN_TRUNCATED:
            raise RowError(
                f"too long: {total} {unit} tokens > dataset.max_input_tokens {limit} ({detail})", example.id
            )
        shortened = _truncate(example, limit - options, question, context, count)
        return shortened, f"truncated: {total} {unit} tokens to at most {limit} ({detail})"

    return check


def _truncate(example: Example, budget: int, question: int, context: int, count: Counter) -> Example:
    """`example` with its context (down to half of `budget`), then its question, cut to fit `budget`."""
    new_context = example.context
    if example.context and question + context > budget:
        keep = budget - question if question <= budget // 2 else budget // 2
        new_context = shorten(example.context, keep, count)
        context = count(new_context)
    new_question = example.question
    if question + context > budget:
        new_question = shorten(example.question, budget - context, count)
    return dataclasses.replace(example, question=new_question, context=new_context)


def shorten(text: str, budget: int, count: Counter) -> str:
    """`text` cut to at most `budget` tokens (>= 16): its beginning and its end with " [...] " between."""
    total = count(text)
    if total <= budget:
        return text
    chars = max(len(text) * budget // total, 2)
    while True:
        head = int(chars * HEAD_SHARE)
        cut = text[:head].rstrip() + ELLIPSIS + text[len(text) - (chars - head) :].lstrip()
        if count(cut) <= budget or chars <= 2:
            return cut.strip()
        chars = int(chars * 0.9)
