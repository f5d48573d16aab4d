"""Answers that are text: exact (normalised) strings, math expressions (math-verify) and user checkers.

- exact: the text after the last "The answer is" / "Answer:" / "Final answer:" marker (to the end of its
  line or sentence), else the last \\boxed{...}, else the reply's last non-empty line; compared after
  normalising: lower case, accents kept, punctuation (not a decimal point) and the articles a/an/the
  dropped, spaces collapsed.
- math: the same extraction, \\boxed{...} first; equal when math-verify finds the expressions equivalent or
  their normalised texts are equal.
- checker: kind "checker:<module>:<function>"; the extracted text (not normalised) and the gold are passed to
  `function(predicted, gold) -> bool`; a checker that cannot be imported or raises counts as "no match"
  (`load_checker` reports import errors up front, at load time).
"""

from __future__ import annotations

import functools
import importlib
import re
import string
from collections.abc import Callable

from fair_core.answer_math import mv_equivalent

TEXT_KINDS = ("exact", "math")
CHECKER_PREFIX = "checker:"

_MARKER = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*[:\-]|answer\s*[:\-])\s*(.+)", re.IGNORECASE
)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_DECIMAL = re.compile(r"(?<=\d)[.,](?=\d)")


def is_text_kind(kind: str) -> bool:
    return kind in TEXT_KINDS or kind.startswith(CHECKER_PREFIX)


def normalize_text(text: str) -> str:
    """Lower case, punctuation and articles dropped, whitespace collapsed."""
    kept = _DECIMAL.sub("\x00", str(text).lower())  # "3.5" keeps its point: it is not "35"
    flat = _ARTICLES.sub(" ", kept.translate(_PUNCT)).replace("\x00", ".")
    return " ".join(flat.split())


def _boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip() or None
    return None


def extract_text(text: str, boxed_first: bool = False) -> str | None:
    """The stated final answer of a reply, as written (see the module docstring)."""
    boxed = _boxed(text)
    if boxed_first and boxed:
        return boxed
    marks = list(_MARKER.finditer(text))
    if marks:
        found = marks[-1].group(1).splitlines()[0].strip()
        found = re.split(r"(?<=[^\d\s])\.\s|\.$", found)[0].strip().strip("*").strip()
        if found:
            return found
    if boxed:
        return boxed
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


@functools.cache
def load_checker(spec: str) -> Callable[[str, str], bool]:
    """The function named 'module:function'; ValueError (one line) when it cannot be imported."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"checker {spec!r}: use 'module:function'")
    try:
        func = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"checker {spec!r}: cannot import: {err}") from None
    if not callable(func):
        raise ValueError(f"checker {spec!r}: not a function")
    return func


def extract(text: str, kind: str) -> str | None:
    found = extract_text(text, boxed_first=kind == "math")
    if found is None:
        return None
    if kind == "exact":
        return normalize_text(found) or None
    return found


def normalize(raw: object, kind: str) -> str:
    text = str(raw).strip()
    if not text:
        raise ValueError(f"empty gold answer: {raw!r}")
    return text  # as written (teachers see it as the hint); `match` normalises both sides


def match(predicted: str, gold: str, kind: str) -> bool:
    if kind == "exact":
        return normalize_text(predicted) == normalize_text(gold)
    if kind == "math":
        return normalize_text(predicted) == normalize_text(gold) or mv_equivalent(gold, predicted)
    return bool(load_checker(kind.removeprefix(CHECKER_PREFIX))(predicted, gold))
