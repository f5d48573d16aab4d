"""Safe evaluation of plain arithmetic (numbers, + - * /, parentheses, unary signs) with exact fractions."""

from __future__ import annotations

import re
from fractions import Fraction

MAX_LENGTH = 200  # longer expressions are not evaluated (keeps the recursive parser shallow)
TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|([-+*/()]))")


class _Parser:
    """Recursive descent: expr := term (+|- term)*; term := unary (*|/ unary)*; unary := (+|-) unary|atom."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                value *= self.unary()
            else:
                divisor = self.unary()
                if divisor == 0:
                    raise ValueError("division by zero")
                value /= divisor
        return value

    def unary(self) -> Fraction:
        if self.peek() in ("+", "-"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.atom()

    def atom(self) -> Fraction:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end")
        self.take()
        if token == "(":
            value = self.expr()
            if self.peek() != ")":
                raise ValueError("unbalanced parenthesis")
            self.take()
            return value
        if token in "+-*/)":
            raise ValueError(f"unexpected {token!r}")
        return Fraction(token)


def tokenize(expression: str) -> list[str] | None:
    tokens: list[str] = []
    pos = 0
    text = expression.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None:
            return None
        tokens.append(match.group(1) or match.group(2))
        pos = match.end()
    return tokens


def evaluate(expression: str) -> Fraction | None:
    """Exact value of `expression`, or None when it is not plain arithmetic (nothing is ever eval'd)."""
    if not expression or len(expression) > MAX_LENGTH:
        return None
    tokens = tokenize(expression)
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expr()
    except (ValueError, ZeroDivisionError, IndexError):
        return None
    return value if parser.peek() is None else None


def format_number(value: Fraction) -> str | None:
    """'3', '-2.5'; None when the value has no finite decimal form (e.g. 1/3)."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator, places = value.denominator, 0
    while denominator % 2 == 0 or denominator % 5 == 0:
        for factor in (2, 5):
            if denominator % factor == 0:
                denominator //= factor
        places += 1
    if denominator != 1:
        return None
    scaled = abs(value) * 10**places
    digits = str(scaled.numerator).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}".rstrip("0").rstrip(".")
    return f"-{text}" if value < 0 else text
