"""Simulated teachers, independent of wire formats: rationales, feedback and 1-5 reviews of known examples."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from fair_core.answers import answers_match, extract_answer
from fair_core.config import SimulatorConfig
from fair_core.hashing import stable_hash
from fair_core.prompts.builder import LETTERS, gold_text
from fair_core.records import Example, Message

SimRole = Literal["rationale", "feedback", "review", "unknown"]

_FENCED = re.compile(r'"""\s*\n?(.*?)\n?\s*"""', re.DOTALL)
GENERIC_REPLY = "I could not match this to a problem I know; please restate the question in full."


@dataclass(frozen=True)
class RoleMarkers:
    """Text that tells the roles apart (searched outside triple-quote fences); review is checked first."""

    review: tuple[str, ...] = ("square brackets",)
    feedback: tuple[str, ...] = ("Student's answer:",)


@dataclass(frozen=True)
class SimReply:
    """A simulated reply with what it was about and approximate token counts (words)."""

    text: str
    role: SimRole
    example_id: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


def count_words(text: str) -> int:
    return len(text.split())


def _rng(*parts: object) -> random.Random:
    return random.Random(int(stable_hash([str(p) for p in parts])[:16], 16))


def wrong_answer(example: Example, rng: random.Random) -> str:
    """An answer that is surely not the gold: numbers + 1, booleans flipped, another option letter."""
    gold = example.answer.strip()
    if example.kind == "boolean":
        return "false" if gold.lower() in ("true", "yes") else "true"
    if example.kind == "choice":
        letters = LETTERS[: len(example.options or ()) or 4]
        return rng.choice([x for x in letters if x != gold.upper()] or ["A" if gold != "A" else "B"])
    try:
        value = Decimal(gold.replace(",", "")) + 1
    except InvalidOperation:
        return "0" if gold != "0" else "1"
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


def _shown(answer: str, kind: str) -> str:
    return answer.capitalize() if kind == "boolean" else answer


class TeacherSimulator:
    """Plays any number of teachers (told apart by model name) over a fixed set of examples.

    Replies are deterministic per (model, example, sample): rationales are wrong with probability
    `wrong_rate` (or the model's entry in `wrong_rates`), reviews grade a rationale's final answer against
    the gold and leave the score out with probability `unparseable_rate`.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        cfg: SimulatorConfig,
        wrong_rates: Mapping[str, float] | None = None,
        markers: RoleMarkers | None = None,
    ) -> None:
        self.cfg = cfg
        self.wrong_rates = dict(wrong_rates or {})
        self.markers = markers or RoleMarkers()
        self.examples = list(examples)
        self._by_line: dict[str, list[Example]] = {}
        for example in self.examples:
            first = next((ln.strip() for ln in example.question.strip().splitlines() if ln.strip()), "")
            if first:
                self._by_line.setdefault(first, []).append(example)

    def wrong_rate(self, model: str) -> float:
        return self.wrong_rates.get(model, self.cfg.wrong_rate)

    # --- understanding the prompt ------------------------------------------------------------------------

    @staticmethod
    def _matches(example: Example, text: str) -> bool:
        if example.question.strip() not in text:
            return False
        if example.context and example.context.strip() not in text:
            return False
        return all(option.strip() in text for option in example.options or ())

    def find_example(self, text: str) -> Example | None:
        """The known example whose question (and passage, options) occur in `text`; the most specific wins."""
        candidates: list[Example] = []
        for line in text.splitlines():
            stripped = line.strip()
            tails = [stripped] + [stripped[i + 1 :].strip() for i, c in enumerate(stripped) if c == ":"]
            for tail in tails:
                candidates.extend(self._by_line.get(tail, ()))
        found = [e for e in candidates if self._matches(e, text)]
        if not found:  # a custom template that puts text before the question on its line
            found = [e for e in self.examples if self._matches(e, text)]
        if not found:
            return None
        return max(found, key=lambda e: len(e.question) + len(e.context or "") + len(e.options or ()))

    def detect_role(self, messages: Sequence[Message]) -> SimRole:
        text = _FENCED.sub("", "\n".join(m.content for m in messages))
        if any(marker in text for marker in self.markers.review):
            return "review"
        if any(marker in text for marker in self.markers.feedback):
            return "feedback"
        return "rationale"

    # --- replies -------------------------------------------------------------------------------------------

    def is_wrong(self, model: str, example: Example, sample: int = 0) -> bool:
        """Whether this model's rationale for this example and sample is a wrong one."""
        return _rng(model, example.id, sample, "wrong").random() < self.wrong_rate(model)

    def rationale(self, model: str, example: Example, sample: int = 0) -> str:
        kind = example.kind
        if self.is_wrong(model, example, sample):
            shown = _shown(wrong_answer(example, _rng(model, example.id, sample, "answer")), kind)
            body = {
                "numeric": f"Let me combine the quantities step by step. That gives {shown}.",
                "boolean": f"{shown}. Thinking about the facts step by step, it seems likely.",
            }.get(kind, f"Working through the question step by step, I get {shown}.")
            if kind == "choice":
                body = f"{shown}. Option {shown} fits the passage best of the options."
            return f"{body}\nThe answer is {shown}."
        gold = _shown(example.answer, kind)
        solution = (example.solution or "").strip()
        if kind == "numeric":
            body = solution or f"Working through the quantities in the question step by step gives {gold}."
            if (
                answers_match(extract_answer(body, kind), example.answer, kind)
                and "answer is" in body.lower()
            ):
                return body  # the worked solution already states its final answer
        elif kind == "boolean":
            body = f"{gold}. {solution or 'Considering the relevant facts step by step supports this.'}"
        elif kind == "choice":
            body = f"{gold}. Option {gold_text(example)} follows from the passage; the others do not."
        else:  # a custom dataset's text answer (exact, math, a user checker)
            body = solution or f"Working through the question step by step gives {gold}."
        return f"{body}\nThe answer is {gold}."

    def feedback(self, model: str, example: Example, prompt: str = "") -> str:
        """Names the student's wrong answer (from the fenced answer in the prompt), the fix and the gold."""
        fenced = _FENCED.search(prompt)
        wrong = extract_answer(fenced.group(1), example.kind, example.options) if fenced else None
        said = (
            f"The student's final answer, {_shown(wrong, example.kind)}, is wrong"
            if wrong
            else ("The student never reaches a clear final answer")
        )
        steps = (example.solution or "").strip()
        steps = re.sub(r"\s*The answer is [^\n]*$", "", steps).strip() if steps else ""
        fix = (
            f"Redo the work step by step: {steps}"
            if steps
            else "Redo the work step by step from the question"
        )
        return f"{said}. {fix.rstrip('.')}. So the correct answer is {gold_text(example)}."

    def review(self, model: str, example: Example, prompt: str, sample: int = 0) -> str:
        fenced = _FENCED.search(prompt)
        rationale = fenced.group(1) if fenced else ""
        rng = _rng(model, example.id, sample, stable_hash(rationale), "review")
        predicted = extract_answer(rationale, example.kind, example.options)
        correct = answers_match(predicted, example.answer, example.kind)
        if rng.random() < self.cfg.unparseable_rate:
            return "The solution is hard to follow, so I would rather not grade it."
        if correct:
            score = 5 if rng.random() < 0.7 else 4
            return f"Every step follows from the one before and reaches the correct answer. [{score}]"
        score = 1 if rng.random() < 0.6 else 2
        said = f"concludes {predicted}" if predicted else "never states a final answer"
        return f"The solution {said}, but the correct answer is {gold_text(example)}: unsound. [{score}]"

    def reply(
        self, model: str, messages: Sequence[Message], *, sample: int = 0, max_tokens: int | None = None
    ) -> SimReply:
        """The reply of teacher `model` to a chat; `max_tokens` cuts it (words), finish_reason 'length'."""
        users = [m.content for m in messages if m.role == "user"]
        prompt = users[-1] if users else (messages[-1].content if messages else "")
        example = self.find_example(prompt)
        role: SimRole = self.detect_role(messages) if example is not None else "unknown"
        if example is None:
            text = GENERIC_REPLY
        elif role == "review":
            text = self.review(model, example, prompt, sample)
        elif role == "feedback":
            text = self.feedback(model, example, prompt)
        else:
            text = self.rationale(model, example, sample)
        finish = "stop"
        words = text.split()
        if max_tokens is not None and len(words) > max_tokens:
            text, finish = " ".join(words[:max_tokens]), "length"
        return SimReply(
            text=text,
            role=role,
            example_id=example.id if example else None,
            prompt_tokens=sum(count_words(m.content) for m in messages),
            completion_tokens=count_words(text),
            finish_reason=finish,
        )
