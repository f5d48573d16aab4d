"""Answer extraction and checking per dataset kind: numbers, yes/no (StrategyQA) and option letters (LogiQA).

Every function is pure and never raises on model text: `extract_answer` returns None when a reply holds no
usable answer. Rules, in order of preference (the first rule that finds anything decides):

- numeric: an explicit marker ("The answer is N", "Answer: N", "final answer ... is N", "#### N",
  "\\boxed{N}"); of several, the last one wins, and it wins over every other number in the text, later ones
  included. Then a loose "Answer: <sentence>" (last number of that sentence). Then the last number of the
  text, skipping list markers ("2." at a line start) when another number exists. "x + y = z" right after a
  marker gives z; "$", "%", units and thousands commas are dropped; "3/4" and "\\frac{3}{4}" give "0.75".
- boolean: the last "answer is/Answer: yes|no|true|false"; else the last of: a reply starting with the word,
  a line holding only the word, "so/therefore/thus ... no." A mere mention of "true" decides nothing.
- choice: the last "answer is (B)" / "Answer: C" / "the correct option is D"; else "option D is correct";
  else a reply starting "A." / "B)" (unless it lists the options); else the only letter named "option X";
  else the text of exactly one option quoted in full; else the final sentence's best word overlap, if clear.

math_verify (Hugging Face) parses LaTeX (\\boxed, \\frac) and judges expression equivalence. It runs with
its signal-based timeouts disabled, so that it works in worker threads; in exchange only short strings
without exponent towers are handed to it (see `_mv_parse`).
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from fair_core.records import AnswerKind

__all__ = ["answers_match", "extract_answer", "is_correct", "normalize_gold"]

_MAX_MV_CHARS = 200  # longest string handed to math_verify
_MAX_MAGNITUDE = 40  # numbers of more than 40 digits are treated as garbage, not answers
_REL_TOL = 1e-6

_NUM = r"[-−]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:\s?/\s?\d+(?!\.\d))?"
_NUM_RE = re.compile(rf"(?<![\w.]){_NUM}")
_TEX_FRAC = r"\\[dt]?frac\{[^{}]{1,30}\}\{[^{}]{1,30}\}"
# fillers are bounded ({0,12}): unbounded neighbours like [\s]*\s* make the regex quadratic on long blanks
_FILL = r"[\s*:=$(\[{]{0,12}(?:(?:approximately|about|roughly|around|exactly|only|just|x ?=|\\approx) ?\$?)?"
_VAL = rf" ?(?P<val>{_NUM}|{_TEX_FRAC})(?: ?[-+*/×÷x] ?\$?{_NUM}){{0,20}}(?: ?= ?\$?(?P<res>{_NUM}))?"
_VERB = r"(?:is|was|would be|will be|should be|comes to|equals)"
_ANSWER = rf"\b(?:final\s+answer|answer)\b(?:[^.:,;\n\d]{{0,60}}?\b{_VERB}\b)?"
_TIGHT_RE = re.compile(rf"(?:{_ANSWER}|####){_FILL}{_VAL}", re.IGNORECASE)
_LOOSE_RE = re.compile(r"\banswer\b\s*(?:is\b|:)(?P<rest>[^\n]*?)(?:(?<!\d)\.(?!\d)|\n|$)", re.IGNORECASE)
_PLAIN_RE = re.compile(r"-?\d+(?:\.\d+)?(?:/-?\d+(?:\.\d+)?)?")
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_TOWER_RE = re.compile(r"\^\s*\{?\s*[-(]?\d{4,}|!")

_BOOL = r"(?P<{}>yes|no|true|false)\b(?!-)(?!\s+(?:one|longer|more|matter|doubt|need|or|and)\b)"
_BFILL = r"[\s*:=\"'(\[{]{0,12}(?:\\boxed\{|\\text\{)?(?:(?:definitely|clearly|simply|probably|likely|a)\s+)?"
_BOOL_EXPLICIT_RE = re.compile(rf"(?:{_ANSWER}|\\boxed\{{){_BFILL}{_BOOL.format('word')}", re.IGNORECASE)
_BOOL_OTHER_RE = re.compile(
    rf"\A[\s*\"'(\[]*{_BOOL.format('word1')}(?=[\s*]*(?:[.,!:;)\]\"']|$)|\s+(?-i:[a-z]))"  # "No, ..."
    rf"|^[ \t*\"'(\[]*{_BOOL.format('word2')}[ \t.!*\"')\]]*$"  # a line holding only the word
    rf"|\b(?:so|thus|therefore|hence|overall|in conclusion|in short|in summary)\b,?\s+{_BOOL.format('word3')}"
    r"(?=\s*(?:[.!,;)*]|$))",
    re.IGNORECASE | re.MULTILINE,
)
_TO_BOOL = {"yes": "true", "true": "true", "no": "false", "false": "false"}

_LINK = r"because|since|as|is|are|was|were|which|would|should|could|might|must|can|seems|appears|and|or"
_LETTER = rf"(?-i:\((?P<low>[a-zA-Z])\)|(?P<up>[A-Z])\b(?!['’])(?!\s+(?!(?:{_LINK})\b)[a-z]))"
_CFILL = r"[\s*:=\"'(\[{]{0,12}(?:\\boxed\{|\\text\{)?(?:(?:option|choice)\s+)?"
_CHOICE_EXPLICIT_RE = re.compile(
    rf"(?:\banswer\b(?:[^.:,;\n]{{0,60}}?\b{_VERB}\b)?|\b(?:option|choice)\s*(?:{_VERB}\b|:)|\\boxed\{{)"
    rf"{_CFILL}{_LETTER}",
    re.IGNORECASE,
)
_CHOICE_ENDORSE_RE = re.compile(
    rf"\b(?:option|choice)\s*{_LETTER}\)?\s+(?:{_VERB}|seems|appears)\s+(?:to be\s+)?(?:the\s+)?"
    r"(?:correct|right|best|true|most)",
    re.IGNORECASE,
)
_CHOICE_START_RE = re.compile(
    r"\A[\s*\"'(\[]*(?:option\s+)?(?:\((?P<low>[a-zA-Z])\)|\(?(?P<up>[A-Z])(?:\s*[.):]|[*\])]*\s*(?:\n|$)))"
)
_LABEL_RE = re.compile(r"^[ \t]*\(?([A-Z])[.)]", re.MULTILINE)
_OPTION_RE = re.compile(rf"\b(?:option|choice)\s*{_LETTER}", re.IGNORECASE)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD_RE = re.compile(r"[a-z0-9]+")


def extract_answer(text: str | None, kind: AnswerKind, options: Sequence[str] | None = None) -> str | None:
    """The normalized final answer of a model reply, or None when the reply gives none."""
    if kind not in ("numeric", "boolean", "choice"):
        raise ValueError(f"unknown answer kind {kind!r}")
    if not text or not text.strip():
        return None
    try:
        if kind == "numeric":
            return _extract_numeric(text)
        if kind == "boolean":
            return _extract_boolean(text)
        return _extract_choice(text, len(options) if options else 4, options)
    except Exception:  # a rule tripping over odd text must not take a whole batch down
        return None


def normalize_gold(raw: str | int | float | bool, kind: AnswerKind) -> str:
    """Canonical form of a dataset's gold answer; ValueError when it cannot be normalized."""
    if kind == "numeric":
        if isinstance(raw, bool):
            raise ValueError(f"numeric gold answer is a bool: {raw!r}")
        if isinstance(raw, int | float):
            if not math.isfinite(raw):
                raise ValueError(f"numeric gold answer is not finite: {raw!r}")
            value: Decimal | None = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        else:
            value = _plain_number(str(raw))
            value = _tex_number(str(raw)) if value is None else value
        formatted = _fmt(value) if value is not None else None
        if formatted is None:
            raise ValueError(f"cannot read a number from gold answer {raw!r}")
        return formatted
    if kind == "boolean":
        word = str(raw).strip().strip(".").lower() if not isinstance(raw, bool) else str(raw).lower()
        if word in ("1", "0"):
            word = "true" if word == "1" else "false"
        if word not in _TO_BOOL:
            raise ValueError(f"boolean gold answer is not yes/no/true/false: {raw!r}")
        return _TO_BOOL[word]
    letter = str(raw).strip().strip("().[] ") if isinstance(raw, str) else ""
    if len(letter) != 1 or not letter.isalpha() or not letter.isascii():
        raise ValueError(f"choice gold answer is not a single option letter: {raw!r}")
    return letter.upper()


def answers_match(predicted: str | None, gold: str, kind: AnswerKind) -> bool:
    """Whether a predicted answer equals the gold one (numbers within a relative 1e-6)."""
    if predicted is None:
        return False
    try:
        if kind == "numeric":
            p, g = _plain_number(predicted), _plain_number(gold)
            if p is not None and g is not None:
                return math.isclose(float(p), float(g), rel_tol=_REL_TOL, abs_tol=1e-12)
            return _mv_equivalent(gold, predicted)
        return normalize_gold(predicted, kind) == normalize_gold(gold, kind)
    except Exception:
        return False


def is_correct(
    text: str | None, gold: str, kind: AnswerKind, options: Sequence[str] | None = None
) -> tuple[str | None, bool]:
    """Extract the answer of `text` and compare it with `gold`: (predicted, correct)."""
    predicted = extract_answer(text, kind, options)
    return predicted, answers_match(predicted, gold, kind)


# ---- numeric ---------------------------------------------------------------------------------------------


def _extract_numeric(text: str) -> str | None:
    explicit = [(m.start(), m["res"] or m["val"]) for m in _TIGHT_RE.finditer(text)]
    for start, content in _boxed(text):
        explicit.append((start, re.sub(r"\\[$%,!;]|[$%]", "", content).replace("{,}", ",").strip()))
    values = [_plain_number(v) if _NUM_RE.fullmatch(v) else _tex_number(v) for _, v in sorted(explicit)]
    values = [v for v in values if v is not None]
    if not values:  # no explicit marker: the last number of a loose "Answer: <sentence>"
        loose = [_NUM_RE.findall(m["rest"]) for m in _LOOSE_RE.finditer(text)]
        values = [_plain_number(numbers[-1]) for numbers in loose if numbers]
    if not values:  # else the last number of the text, list markers only when nothing else is there
        numbers = list(_NUM_RE.finditer(text))
        kept = [n for n in numbers if not _is_list_marker(text, n)] or numbers
        values = [_plain_number(n.group()) for n in kept]
    return _fmt(values[-1]) if values and values[-1] is not None else None


def _is_list_marker(text: str, m: re.Match[str]) -> bool:
    line_start = text.rfind("\n", 0, m.start()) + 1
    return not text[line_start : m.start()].strip() and re.match(r"[.)](\s|$)", text[m.end() :]) is not None


def _boxed(text: str) -> list[tuple[int, str]]:
    """(position, content) of every \\boxed{...}, braces balanced."""
    out = []
    for m in _BOXED_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth and i - m.end() <= _MAX_MV_CHARS:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append((m.start(), text[m.end() : i - 1]))
    return out


def _plain_number(s: str) -> Decimal | None:
    """A plain written number ("1,234", "-4", "0.5", "3/4", "$18", "18%") as a Decimal; None otherwise."""
    s = re.sub(r"[$,\s]", "", s.replace("−", "-")).removesuffix("%")
    if not _PLAIN_RE.fullmatch(s):
        return None
    num, _, den = s.partition("/")
    if not den:
        return Decimal(num)
    return _from_fraction(Fraction(num) / Fraction(den)) if Fraction(den) else None


def _from_fraction(f: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(f.numerator) / Decimal(f.denominator)


def _fmt(value: Decimal) -> str | None:
    """Canonical text of a number: "145", "0.75", "-4" (at most 12 decimals), None for garbage."""
    if not value.is_finite() or (value and value.adjusted() > _MAX_MAGNITUDE):
        return None
    with localcontext() as ctx:
        ctx.prec = 80
        value = round(value, 12)
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")


# ---- math_verify -----------------------------------------------------------------------------------------


def _drop_timeout_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Timeout is disabled")


@functools.cache
def _mv() -> tuple[Callable[..., Any], Callable[..., Any], Any]:
    """math_verify's parse, verify and LatexExtractionConfig, imported on first use (it loads sympy)."""
    from math_verify import LatexExtractionConfig, parse, verify

    for name in ("math_verify.parser", "math_verify.grader"):  # we disable timeouts on purpose: say nothing
        logging.getLogger(name).addFilter(_drop_timeout_notice)
    return parse, verify, LatexExtractionConfig


def _mv_parse(s: str, latex_only: bool = False) -> list[Any]:
    """math_verify.parse without timeout, only on short strings free of exponent towers, big exponents and
    factorials, which sympy could take forever on (nothing else interrupts it)."""
    if len(s) > _MAX_MV_CHARS or s.count("^") + s.count("**") > 1 or _TOWER_RE.search(s):
        return []
    parse, _, latex_config = _mv()
    if latex_only:
        return parse(s, extraction_config=[latex_config()], parsing_timeout=None)
    return parse(s, parsing_timeout=None)


def _tex_number(s: str) -> Decimal | None:
    """The number a LaTeX snippet denotes (via math_verify), the right side of "x = 5"; None if none."""
    expr = next((e for e in _mv_parse(f"\\boxed{{{s}}}", latex_only=True) if not isinstance(e, str)), None)
    if expr is not None and getattr(expr, "is_Relational", False):
        expr = expr.rhs
    if expr is None or not getattr(expr, "is_number", False):
        return None
    if expr.is_Rational:
        return _from_fraction(Fraction(int(expr.p), int(expr.q)))
    value = expr if expr.is_Float else expr.evalf(20)
    return Decimal(str(value)) if getattr(value, "is_Float", False) else None


def _mv_equivalent(gold: str, predicted: str) -> bool:
    g, p = (_mv_parse(s if "$" in s else f"${s}$") for s in (gold, predicted))
    return bool(g and p) and bool(_mv()[1](g, p, timeout_seconds=None))


# ---- boolean and choice ----------------------------------------------------------------------------------


def _extract_boolean(text: str) -> str | None:
    explicit = list(_BOOL_EXPLICIT_RE.finditer(text))
    matches = explicit or list(_BOOL_OTHER_RE.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    word = next(w for k, w in last.groupdict().items() if k.startswith("word") and w)
    return _TO_BOOL[word.lower()]


def _extract_choice(text: str, n: int, options: Sequence[str] | None) -> str | None:
    valid = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n]

    def letters(matches: Sequence[re.Match[str]]) -> list[str]:
        found = ((m.groupdict().get("up") or m.groupdict().get("low") or "").upper() for m in matches)
        return [x for x in found if x and x in valid]

    for rule in (_CHOICE_EXPLICIT_RE, _CHOICE_ENDORSE_RE):
        found = letters(list(rule.finditer(text)))
        if found:
            return found[-1]
    # a reply starting "A." is read as answering A, unless it lists the options ("A. ...", "B. ...")
    if len(set(_LABEL_RE.findall(text))) <= 1:
        found = letters([m for m in [_CHOICE_START_RE.match(text)] if m])
        if found:
            return found[0]
    named = set(letters(list(_OPTION_RE.finditer(text))))
    if len(named) == 1:
        return named.pop()
    return _choice_by_text(text, options, valid) if options else None


def _words(s: str) -> list[str]:
    return _WORD_RE.findall(re.sub(r"^\s*\(?[A-Za-z]\s*[.):]\s*", "", s).lower())


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


def _choice_by_text(text: str, options: Sequence[str], valid: str) -> str | None:
    reply = f" {' '.join(_words(text))} "
    opts = [" ".join(_words(o)) for o in options[: len(valid)]]
    quoted = [i for i, o in enumerate(opts) if len(o.split()) >= 2 and f" {o} " in reply]
    quoted = [i for i in quoted if not any(i != j and f" {opts[i]} " in f" {opts[j]} " for j in quoted)]
    if len(quoted) == 1:
        return valid[quoted[0]]
    sentences = [s for s in _SENTENCE_SPLIT_RE.split(text) if _words(s)]
    last = set(_words(sentences[-1])) if sentences else set()
    scores = sorted(((_dice(last, set(o.split())), i) for i, o in enumerate(opts) if o), reverse=True)
    if last and scores and scores[0][0] >= 0.5 and (len(scores) == 1 or scores[0][0] - scores[1][0] >= 0.2):
        return valid[scores[0][1]]
    return None
