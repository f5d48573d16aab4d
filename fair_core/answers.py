"""Answer extraction and checking per dataset kind: numbers, yes/no (StrategyQA) and option letters (LogiQA).

Every function is pure and never raises on model text: `extract_answer` returns None when a reply holds no
usable answer. Rules are classes of what students write, not phrases (patterns: fair_core.answer_patterns);
in order of preference, the first rule that finds anything decides:

- a reply that answers questions of its own (numbered sub-questions, "Question 2: ...", "another question")
  is read up to the first one, or has no answer when it never answers the asked one (fair_core.answer_scope).
- numeric: an explicit marker ("The answer is N", "Answer: N", "final answer ... is N", "#### N",
  "\\boxed{N}"); of several, the last one wins, and it wins over every other number in the text, later ones
  included. "x + y = z" after a marker gives z, a chain "a + b = c + d = e" gives e; a currency sign may
  stand apart ("$ 98 x 89 = $ 8,612" gives 8612). Then "Answer: B)" naming an option the reply listed itself
  ("B) 1,052 sacks"). Then a loose "Answer: <sentence>" (its last number). Then the last number of the text,
  skipping list markers ("2." at a line start) when another number exists. Currency signs, "%", units and
  thousands commas are dropped; "3/4" and "\\frac{3}{4}" give "0.75".
- boolean: the last "answer is/Answer:" or labelled verdict ("Conclusion: False.", "Final verdict - true");
  else the last of: a reply starting with the word, a line holding only the word, "so/therefore ... no.",
  an opinion or hedge ("I believe this to be false", "so it is likely false") unless denied or conditional
  in its clause ("I don't think ...", "if this is true"), "Explanation: False.". A mere mention of "true"
  ("It is true that ...", "True or False: ...") decides nothing.
- choice: the last "answer is (B)" / "Answer: C" / "the correct option is D" / decision ("I would choose D",
  "I'd go with (B)", "my pick: C"; a letter that starts a list, "A or B", is none); else "option D is
  correct"; else a reply starting "A." / "B)" (unless it lists the options); else the only letter named
  "option X"; else the text of exactly one option quoted in full; else the final sentence's best word
  overlap, if clear.

math_verify (Hugging Face) parses LaTeX (\\boxed, \\frac) and judges expression equivalence. It runs with
its signal-based timeouts disabled, so that it works in worker threads; in exchange only short strings
without exponent towers are handed to it (see fair_core.answer_math).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction

from fair_core import answer_patterns as P
from fair_core import answer_text
from fair_core.answer_math import MAX_MV_CHARS, from_fraction, mv_equivalent, tex_number
from fair_core.answer_scope import answer_scope
from fair_core.records import AnswerKind

__all__ = ["answers_match", "extract_answer", "is_correct", "normalize_gold"]

_MAX_MAGNITUDE = 40  # numbers of more than 40 digits are treated as garbage, not answers
_REL_TOL = 1e-6


def extract_answer(text: str | None, kind: AnswerKind, options: Sequence[str] | None = None) -> str | None:
    """The normalized final answer of a model reply, or None when the reply gives none."""
    text_kind = answer_text.is_text_kind(kind)
    if kind not in ("numeric", "boolean", "choice") and not text_kind:
        raise ValueError(f"unknown answer kind {kind!r}")
    if not text or not text.strip():
        return None
    try:
        if text_kind:  # exact, math, checker:<module:function> (fair_core.answer_text)
            return answer_text.extract(text, kind)
        rule = _rule(kind, options)
        numeric = kind == "numeric"
        scope = answer_scope(text, _worked_numeric if numeric else rule, _marked_numeric if numeric else rule)
        return rule(scope) if scope is not None else None
    except Exception:  # a rule tripping over odd text must not take a whole batch down
        return None


def _rule(kind: AnswerKind, options: Sequence[str] | None) -> Callable[[str], str | None]:
    if kind == "numeric":
        return _extract_numeric
    if kind == "boolean":
        return _extract_boolean
    return functools.partial(_extract_choice, n=len(options) if options else 4, options=options)


def normalize_gold(raw: str | int | float | bool, kind: AnswerKind) -> str:
    """Canonical form of a dataset's gold answer; ValueError when it cannot be normalized."""
    if answer_text.is_text_kind(kind):
        return answer_text.normalize(raw, kind)
    if kind == "numeric":
        if isinstance(raw, bool):
            raise ValueError(f"numeric gold answer is a bool: {raw!r}")
        if isinstance(raw, int | float):
            if not math.isfinite(raw):
                raise ValueError(f"numeric gold answer is not finite: {raw!r}")
            value: Decimal | None = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        else:
            value = _plain_number(str(raw))
            value = tex_number(str(raw)) if value is None else value
        formatted = _fmt(value) if value is not None else None
        if formatted is None:
            raise ValueError(f"cannot read a number from gold answer {raw!r}")
        return formatted
    if kind == "boolean":
        word = str(raw).strip().strip(".").lower() if not isinstance(raw, bool) else str(raw).lower()
        if word in ("1", "0"):
            word = "true" if word == "1" else "false"
        if word not in P.TO_BOOL:
            raise ValueError(f"boolean gold answer is not yes/no/true/false: {raw!r}")
        return P.TO_BOOL[word]
    letter = str(raw).strip().strip("().[] ") if isinstance(raw, str) else ""
    if len(letter) != 1 or not letter.isalpha() or not letter.isascii():
        raise ValueError(f"choice gold answer is not a single option letter: {raw!r}")
    return letter.upper()


def answers_match(predicted: str | None, gold: str, kind: AnswerKind) -> bool:
    """Whether a predicted answer equals the gold one (numbers within a relative 1e-6)."""
    if predicted is None:
        return False
    try:
        if answer_text.is_text_kind(kind):
            return answer_text.match(predicted, gold, kind)
        if kind == "numeric":
            p, g = _plain_number(predicted), _plain_number(gold)
            if p is not None and g is not None:
                return math.isclose(float(p), float(g), rel_tol=_REL_TOL, abs_tol=1e-12)
            return mv_equivalent(gold, predicted)
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
    explicit = [(m.start(), m["res"] or m["val"]) for m in P.TIGHT_RE.finditer(text)]
    for start, content in _boxed(text):
        explicit.append((start, re.sub(r"\\[$%,!;]|[$%]", "", content).replace("{,}", ",").strip()))
    values = [_plain_number(v) if P.NUM_RE.fullmatch(v) else tex_number(v) for _, v in sorted(explicit)]
    values = [v for v in values if v is not None]
    if not values:  # "Answer: B)" naming an option the reply listed itself ("B) 1,052 sacks"): its number
        letter = next(reversed(list(P.ANSWER_LETTER_RE.finditer(text))), None)  # the last one decides
        values = [v for v in [_own_option_number(letter)] if v is not None] if letter else []
    if not values:  # no explicit marker: the last number of a loose "Answer: <sentence>"
        loose = [P.NUM_RE.findall(m["rest"]) for m in P.LOOSE_RE.finditer(text)]
        values = [_plain_number(numbers[-1]) for numbers in loose if numbers]
    if not values:  # else the last number of the text, list markers only when nothing else is there
        numbers = list(P.NUM_RE.finditer(text))
        kept = [n for n in numbers if not _is_list_marker(text, n)] or numbers
        values = [_plain_number(n.group()) for n in kept]
    return _fmt(values[-1]) if values and values[-1] is not None else None


def _own_option_number(m: re.Match[str]) -> Decimal | None:
    option = P.own_option_re(m["letter"]).search(m.string, 0, m.start())
    return _plain_number(option["num"]) if option else None


def _worked_numeric(text: str) -> str | None:
    """The numeric answer of a text that marks one or works one out ("3 + 4 = 7"); None for mere numbers."""
    worked = P.ANSWER_MARK_RE.search(text) or P.RESULT_RE.search(text)
    return _extract_numeric(text) if worked else None


def _marked_numeric(text: str) -> str | None:
    """The numeric answer of a text that marks one ("Answer: 5"); None for worked steps and mere numbers."""
    return _extract_numeric(text) if P.ANSWER_MARK_RE.search(text) else None


def _is_list_marker(text: str, m: re.Match[str]) -> bool:
    line_start = text.rfind("\n", 0, m.start()) + 1
    return not text[line_start : m.start()].strip() and re.match(r"[.)](\s|$)", text[m.end() :]) is not None


def _boxed(text: str) -> list[tuple[int, str]]:
    """(position, content) of every \\boxed{...}, braces balanced."""
    out = []
    for m in P.BOXED_RE.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth and i - m.end() <= MAX_MV_CHARS:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append((m.start(), text[m.end() : i - 1]))
    return out


def _plain_number(s: str) -> Decimal | None:
    """A plain written number ("1,234", "-4", "0.5", "3/4", "$18", "€ 18", "18%") as a Decimal; else None."""
    s = re.sub(rf"[{P.CURRENCY_SIGNS},\s]", "", s.replace("−", "-")).removesuffix("%")
    if not P.PLAIN_RE.fullmatch(s):
        return None
    num, _, den = s.partition("/")
    if not den:
        return Decimal(num)
    return from_fraction(Fraction(num) / Fraction(den)) if Fraction(den) else None


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


# ---- boolean and choice ----------------------------------------------------------------------------------


def _extract_boolean(text: str) -> str | None:
    explicit = list(P.BOOL_EXPLICIT_RE.finditer(text))
    matches = explicit or [m for m in P.BOOL_OTHER_RE.finditer(text) if not _negated_statement(m)]
    if not matches:
        return None
    word = next(w for w in matches[-1].groupdict().values() if w)
    return P.TO_BOOL[word.lower()]


def _negated_statement(m: re.Match[str]) -> bool:
    """Whether a statement verdict ("it is true") is denied or conditional in its clause: "I don't think it
    is true", "if this is true", "I cannot say whether the statement is false". (An opinion's own words
    admit no negation: "I don't think" is no opinion match.)"""
    if not m["stated"]:
        return False
    clause = P.CLAUSE_END_RE.split(m.string[max(0, m.start() - 80) : m.start()])[-1]
    return P.NOT_A_VERDICT_RE.search(clause) is not None


def _extract_choice(text: str, n: int, options: Sequence[str] | None) -> str | None:
    valid = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n]

    def letters(matches: Sequence[re.Match[str]]) -> list[str]:
        found = ((m.groupdict().get("up") or m.groupdict().get("low") or "").upper() for m in matches)
        return [x for x in found if x and x in valid]

    for rule in (P.CHOICE_EXPLICIT_RE, P.CHOICE_ENDORSE_RE):
        found = letters(list(rule.finditer(text)))
        if found:
            return found[-1]
    # a reply starting "A." is read as answering A, unless it lists the options ("A. ...", "B. ...")
    if len(set(P.LABEL_RE.findall(text))) <= 1:
        found = letters([m for m in [P.CHOICE_START_RE.match(text)] if m])
        if found:
            return found[0]
    named = set(letters(list(P.OPTION_RE.finditer(text))))
    if len(named) == 1:
        return named.pop()
    return _choice_by_text(text, options, valid) if options else None


def _words(s: str) -> list[str]:
    return P.WORD_RE.findall(re.sub(r"^\s*\(?[A-Za-z]\s*[.):]\s*", "", s).lower())


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0


def _choice_by_text(text: str, options: Sequence[str], valid: str) -> str | None:
    reply = f" {' '.join(_words(text))} "
    opts = [" ".join(_words(o)) for o in options[: len(valid)]]
    quoted = [i for i, o in enumerate(opts) if len(o.split()) >= 2 and f" {o} " in reply]
    quoted = [i for i in quoted if not any(i != j and f" {opts[i]} " in f" {opts[j]} " for j in quoted)]
    if len(quoted) == 1:
        return valid[quoted[0]]
    sentences = [s for s in P.SENTENCE_SPLIT_RE.split(text) if _words(s)]
    last = set(_words(sentences[-1])) if sentences else set()
    scores = sorted(((_dice(last, set(o.split())), i) for i, o in enumerate(opts) if o), reverse=True)
    if last and scores and scores[0][0] >= 0.5 and (len(scores) == 1 or scores[0][0] - scores[1][0] >= 0.2):
        return valid[scores[0][1]]
    return None
