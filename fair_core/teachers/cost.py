"""Teacher call cost: a built-in price table, per-teacher overrides, the batch discount, token estimates.

Prices are USD per million tokens as the providers published them when this table was written (2025-11;
gemini-1.0-pro at its retirement). Providers change prices: check their pricing pages, and set
`price_input_per_mtok` / `price_output_per_mtok` on a teacher to override an entry or price another model.
A model without a price costs 0 in every table and cannot be held to `run.budget_usd` (a warning says so).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from fair_core.config import TeacherConfig
    from fair_core.teachers.base import ChatRequest

logger = logging.getLogger(__name__)

#: How a reply came; `replay`: from a recording (`provider: replay`), never sent and never paid.
CallMode = Literal["online", "batch", "cache", "replay"]

#: Batch APIs (OpenAI, Gemini, Mistral) bill half the online price.
BATCH_DISCOUNT = 0.5
PRICES_AS_OF = "2025-11"

#: model id -> (USD per million input tokens, USD per million output tokens).
PRICE_TABLE: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-5-mini": (0.25, 2.00),
    "gemini-1.0-pro": (0.50, 1.50),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.24, 0.24),  # DeepInfra's OpenAI-compatible endpoint
    "open-mixtral-8x7b": (0.70, 0.70),
    "mistral-large-latest": (2.00, 6.00),
    "mistral-medium-latest": (0.40, 2.00),
    "mistral-small-latest": (0.10, 0.30),
}

#: The prompt estimate: characters / 4, plus a few tokens of chat framing per message.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens, and where the numbers come from ('table' or 'config')."""

    input_per_mtok: float
    output_per_mtok: float
    source: str = "table"

    def cost(self, prompt_tokens: int, completion_tokens: int, mode: CallMode = "online") -> float:
        """USD for one call; `batch` gets the batch discount, `cache` and `replay` cost nothing."""
        if mode in ("cache", "replay"):
            return 0.0
        usd = (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6
        return usd * BATCH_DISCOUNT if mode == "batch" else usd


def _table_price(model: str) -> tuple[float, float] | None:
    name = model.removeprefix("models/")
    if name in PRICE_TABLE:
        return PRICE_TABLE[name]
    return PRICE_TABLE.get(name.lower())


def price_for(cfg: TeacherConfig) -> Price | None:
    """The teacher's price: its config overrides, else the table's entry for its model, else None; a
    replayed teacher (`provider: replay`) costs nothing whatever its model."""
    if cfg.provider == "replay":
        return Price(0.0, 0.0, "replay")
    table = _table_price(cfg.model)
    if cfg.price_input_per_mtok is None and cfg.price_output_per_mtok is None:
        return Price(*table) if table else None
    input_price = cfg.price_input_per_mtok if cfg.price_input_per_mtok is not None else (table or (0, 0))[0]
    output_price = (
        cfg.price_output_per_mtok if cfg.price_output_per_mtok is not None else (table or (0, 0))[1]
    )
    return Price(float(input_price), float(output_price), "config")


def warn_unpriced(teachers: Iterable[TeacherConfig]) -> list[str]:
    """Log (once per call) the teachers without a price; returns their names."""
    missing = [t.name for t in teachers if price_for(t) is None]
    if missing:
        logger.warning(
            "no price for teacher(s) %s: their calls count as $0 and the budget cannot hold them; set "
            "price_input_per_mtok and price_output_per_mtok",
            ", ".join(missing),
        )
    return missing


def call_cost(price: Price | None, prompt_tokens: int, completion_tokens: int, mode: CallMode) -> float:
    """USD of one call (0 without a price)."""
    return 0.0 if price is None else price.cost(int(prompt_tokens or 0), int(completion_tokens or 0), mode)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ceil(characters / 4) (English prose; digits and code count more)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_token_estimate(request: ChatRequest) -> int:
    """Estimated prompt tokens of a request: each message's text / 4 plus 4 tokens of framing."""
    return sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in request.messages)


def request_token_estimate(request: ChatRequest) -> int:
    """What a request may use at most, for TPM limits and budgets: prompt estimate + max_tokens."""
    return prompt_token_estimate(request) + request.max_tokens


def max_request_cost(price: Price | None, request: ChatRequest, mode: CallMode = "online") -> float:
    """Upper bound of a request's cost (prompt estimate, every max_tokens used), reserved from a budget."""
    return call_cost(price, prompt_token_estimate(request), request.max_tokens, mode)
