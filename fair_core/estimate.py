"""What a FAIR round will ask the teachers and cost, before anything is sent (`fair estimate`).

The real prompts are built with the run's PromptSet for every mistake: feedback and a rationale from each
teacher, and a review of each rationale by every other teacher. Mistakes are assumed (a share of the
training questions, by default all of them: the paper's worst case, a student wrong everywhere) or read
from a finished round (`mistakes_from_run`). Prompt tokens use the chars/4 estimate of
`fair_core.teachers.cost`. Completion tokens are given twice: the upper bound (every reply uses max_tokens)
and a typical value: feedback 150 and rationales 110 tokens (about the mean chars/4 of the paper code's
round-0 SVAMP replies from GPT-3.5, Gemini-1.0 and Mixtral), reviews 150 (an assumption; the reference
files keep only the scores). A review prompt holds a typical-length rationale; an assumed student answer is
160 characters (the reference student's mean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fair_core.committee import plan_committee_calls
from fair_core.config import FairConfig
from fair_core.prompts import PromptSet
from fair_core.records import Example
from fair_core.review import plan_reviews
from fair_core.review_plan import review_plan
from fair_core.teachers.caller import PlannedCall
from fair_core.teachers.cost import call_cost, price_for, prompt_token_estimate

TYPICAL_COMPLETION_TOKENS = {"feedback": 150, "rationale": 110, "review": 150}
TYPICAL_STUDENT_ANSWER = ("The student works through the problem step by step and concludes. " * 3)[:160]
DEFAULT_MISTAKE_RATE = 1.0


@dataclass(frozen=True)
class EstimateRow:
    """Calls and tokens of one teacher x role, and their cost (None: the model has no price)."""

    teacher: str
    role: str
    mode: str
    calls: int
    prompt_tokens: int
    completion_max: int
    completion_typical: int
    online_max_usd: float | None
    online_typical_usd: float | None
    batch_typical_usd: float | None


@dataclass(frozen=True)
class RunEstimate:
    rows: list[EstimateRow]
    questions: int
    mistakes: int
    source: str
    rounds: int

    def total(self, field: str) -> float:
        return float(sum(getattr(r, field) or 0 for r in self.rows))

    @property
    def unpriced(self) -> list[str]:
        return sorted({r.teacher for r in self.rows if r.online_max_usd is None})


def assumed_mistakes(examples: Sequence[Example], rate: float) -> list[dict[str, Any]]:
    """The first round(rate * n) training questions as mistakes, with a typical wrong answer."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mistake rate must be between 0 and 1 (got {rate})")
    n = round(rate * len(examples))
    return [
        {"example_id": e.id, "student_completion": TYPICAL_STUDENT_ANSWER, "student_prediction": None}
        for e in examples[:n]
    ]


def _row(cfg: Any, role: str, planned: Sequence[PlannedCall]) -> EstimateRow:
    price = price_for(cfg)
    calls = len(planned)
    prompt = sum(prompt_token_estimate(p.request) for p in planned)
    typical_each = min(cfg.max_tokens, TYPICAL_COMPLETION_TOKENS[role])
    completion_max, completion_typical = calls * cfg.max_tokens, calls * typical_each
    priced = price is not None
    return EstimateRow(
        cfg.name,
        role,
        cfg.mode,
        calls,
        prompt,
        completion_max,
        completion_typical,
        call_cost(price, prompt, completion_max, "online") if priced else None,
        call_cost(price, prompt, completion_typical, "online") if priced else None,
        call_cost(price, prompt, completion_typical, "batch") if priced else None,
    )


def estimate_round(
    config: FairConfig,
    examples: Mapping[str, Example],
    mistakes: Sequence[Mapping[str, Any]],
    source: str,
    prompts: PromptSet | None = None,
) -> RunEstimate:
    """Calls, tokens and cost per teacher x role for one round over `mistakes` (nothing is sent)."""
    prompts = prompts or PromptSet(config.prompts.template_dir, config.prompts.teacher_hint)
    rows: list[EstimateRow] = []
    rationales: list[dict[str, Any]] = []
    for role in ("feedback", "rationale"):
        for teacher in config.teachers:
            planned = plan_committee_calls(teacher, role, examples, mistakes, prompts)  # type: ignore[arg-type]
            rows.append(_row(teacher, role, planned))
            if role == "rationale":
                filler = "Step by step: " + "x" * (
                    4 * min(teacher.max_tokens, TYPICAL_COMPLETION_TOKENS[role])
                )
                rationales += [
                    {"teacher": teacher.name, "example_id": p.example_id, "text": filler} for p in planned
                ]
    if config.review.enabled:
        plan = review_plan(config.review, config.teachers)  # reviewers_per_rationale: fewer reviews
        for reviewer in config.teachers:
            rows.append(_row(reviewer, "review", plan_reviews(reviewer, examples, rationales, prompts, plan)))
    return RunEstimate(rows, len(examples), len(mistakes), source, config.run.rounds)


def estimate_table(estimate: RunEstimate) -> list[list[str]]:
    """Rows for a printed table (header first), totals last."""

    def usd(value: float | None) -> str:
        return "-" if value is None else f"{value:,.4f}"

    header = ["teacher", "role", "mode", "calls", "in tok", "out max", "out typ"]
    header += ["$ online max", "$ online typ", "$ batch typ"]
    lines = [header]
    for r in estimate.rows:
        lines.append(
            [
                r.teacher,
                r.role,
                r.mode,
                f"{r.calls:,}",
                f"{r.prompt_tokens:,}",
                f"{r.completion_max:,}",
                f"{r.completion_typical:,}",
                usd(r.online_max_usd),
                usd(r.online_typical_usd),
                usd(r.batch_typical_usd),
            ]
        )
    lines.append(
        [
            "total",
            "",
            "",
            f"{int(estimate.total('calls')):,}",
            f"{int(estimate.total('prompt_tokens')):,}",
            f"{int(estimate.total('completion_max')):,}",
            f"{int(estimate.total('completion_typical')):,}",
            usd(estimate.total("online_max_usd")),
            usd(estimate.total("online_typical_usd")),
            usd(estimate.total("batch_typical_usd")),
        ]
    )
    return lines


def mistakes_from_run(data_dir: str, run_id: str, round_index: int | None = None) -> tuple[list[dict], str]:
    """A finished round's real mistakes (the last round with a mistakes table unless `round_index`)."""
    from fair_core.store import RunStore

    run = RunStore(data_dir, run_id)
    rounds = [k for k in run.rounds() if run.round(k).exists("mistakes")]
    if round_index is not None:
        rounds = [k for k in rounds if k == round_index]
    if not rounds:
        where = f"round {round_index} of " if round_index is not None else ""
        raise FileNotFoundError(f"no mistakes table in {where}run {run_id} under {run.root}")
    k = rounds[-1]
    rows = run.round(k).rows("mistakes")
    return rows, f"the {len(rows)} real mistakes of run {run_id}, round {k}"
