"""math_verify (Hugging Face) without its signal-based timeouts, on short strings only; exact fractions."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from fair_core import answer_patterns as P

__all__ = ["MAX_MV_CHARS", "from_fraction", "mv_equivalent", "tex_number"]

MAX_MV_CHARS = 200  # longest string handed to math_verify


def from_fraction(f: Fraction) -> Decimal:
    """A fraction as a Decimal of 80 digits (enough for any answer worth reading)."""
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(f.numerator) / Decimal(f.denominator)


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
    if len(s) > MAX_MV_CHARS or s.count("^") + s.count("**") > 1 or P.TOWER_RE.search(s):
        return []
    parse, _, latex_config = _mv()
    if latex_only:
        return parse(s, extraction_config=[latex_config()], parsing_timeout=None)
    return parse(s, parsing_timeout=None)


def tex_number(s: str) -> Decimal | None:
    """The number a LaTeX snippet denotes (via math_verify), the right side of "x = 5"; None if none."""
    expr = next((e for e in _mv_parse(f"\\boxed{{{s}}}", latex_only=True) if not isinstance(e, str)), None)
    if expr is not None and getattr(expr, "is_Relational", False):
        expr = expr.rhs
    if expr is None or not getattr(expr, "is_number", False):
        return None
    if expr.is_Rational:
        return from_fraction(Fraction(int(expr.p), int(expr.q)))
    value = expr if expr.is_Float else expr.evalf(20)
    return Decimal(str(value)) if getattr(value, "is_Float", False) else None


def mv_equivalent(gold: str, predicted: str) -> bool:
    g, p = (_mv_parse(s if "$" in s else f"${s}$") for s in (gold, predicted))
    return bool(g and p) and bool(_mv()[1](g, p, timeout_seconds=None))
