"""The committee's own statistics for one round, pure: per teacher (acceptance, gold answers, training
share, cost) and per reviewer (scores, leniency, agreement, how its scores predict the gold check)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fair_core.agreement import Agreement, PairAgreement, Unit, agreement
from fair_core.review import MAX_SCORE, MIN_SCORE, select_rationales
from fair_core.stats import Proportion, proportion
from fair_core.store.parquet import RoundStore

Rows = Sequence[Mapping[str, Any]]

#: The score columns of a reviewer's distribution: "1".."5", then every other review (no or bad score).
SCORE_COLUMNS = (*(str(s) for s in range(MIN_SCORE, MAX_SCORE + 1)), "invalid")

#: The teacher-call roles whose cost is attributed to a teacher (its own calls in each role).
ROLES = ("feedback", "rationale", "review")


@dataclass(frozen=True)
class TeacherStats:
    """One teacher as an author. `accepted`: of its rationale rows; `gold_ok`: of its written rationales
    with a known gold check; `accepted_gold_ok`: of its accepted ones; training counts are the round's
    training_samples rows it wrote (both tasks), `training_share` of all rows; cost by role (`cost_usd`:
    paid in this run, `billed_usd`: what the replies cost when first obtained), "total" included."""

    teacher: str
    rationales: int
    written: int
    accepted: Proportion
    gold_ok: Proportion
    accepted_gold_ok: Proportion
    rationale_samples: int
    feedback_samples: int
    training_share: float | None
    cost_usd: dict[str, float]
    billed_usd: dict[str, float]


@dataclass(frozen=True)
class ReviewerStats:
    """One teacher as a reviewer. `leniency`: mean of (its score - the mean of the other reviewers' valid
    scores of the same rationale) over `leniency_n` rationales scored by it and by another; the four
    gold counts use its own verdict (score > threshold) against the rationale's gold check."""

    reviewer: str
    reviews: int
    score_counts: dict[str, int]
    mean_score: float | None
    leniency: float | None
    leniency_n: int
    alpha_without: float | None
    accepted_right: int
    accepted_wrong: int
    rejected_right: int
    rejected_wrong: int
    gold_agreement: Proportion


@dataclass(frozen=True)
class CommitteeStats:
    """A round's committee statistics. `acceptance_source`: "acceptance" (the round's table) or
    "recomputed" (no table, e.g. an imported paper-code round: mean > threshold, as the paper);
    `accepted_wrong` / `rejected_right`: the committee's decisions against the gold check."""

    run_id: str
    round: int
    threshold: float
    reviews: int
    teachers: list[TeacherStats]
    reviewers: list[ReviewerStats]
    agreement: Agreement
    acceptance_source: str
    accepted_wrong: int
    rejected_right: int
    training_samples: int

    @property
    def pairs(self) -> list[PairAgreement]:
        return self.agreement.pairs


def _valid(score: Any) -> bool:
    return score is not None and MIN_SCORE <= score <= MAX_SCORE


def _costs(calls: Rows, teacher: str, column: str) -> dict[str, float]:
    by_role = {role: 0.0 for role in ROLES}
    for c in calls:
        if c.get("teacher") == teacher:
            by_role[c["role"]] = by_role.get(c["role"], 0.0) + float(c.get(column) or 0.0)
    return by_role | {"total": sum(by_role.values())}


def teacher_stats(rationales: Rows, acceptance: Rows, samples: Rows, calls: Rows) -> list[TeacherStats]:
    """Per teacher (authors of rationales, writers of samples, callers), in name order."""
    accepted = {(a["example_id"], a["teacher"]) for a in acceptance if a["accepted"]}
    names = sorted({r["teacher"] for r in rationales} | {s["teacher"] for s in samples if s.get("teacher")})
    names += sorted({c["teacher"] for c in calls} - set(names))
    out = []
    for name in names:
        own = [r for r in rationales if r["teacher"] == name]
        written = [r for r in own if r.get("text") and r.get("status", "ok") == "ok"]
        checked = [r for r in written if r.get("gold_ok") is not None]
        kept = [r for r in checked if (r["example_id"], name) in accepted]
        tasks = Counter(s["task"] for s in samples if s.get("teacher") == name)
        out.append(
            TeacherStats(
                teacher=name,
                rationales=len(own),
                written=len(written),
                accepted=proportion(sum((r["example_id"], name) in accepted for r in own), len(own)),
                gold_ok=proportion(sum(bool(r["gold_ok"]) for r in checked), len(checked)),
                accepted_gold_ok=proportion(sum(bool(r["gold_ok"]) for r in kept), len(kept)),
                rationale_samples=tasks.get("rationale", 0),
                feedback_samples=tasks.get("feedback", 0),
                training_share=sum(tasks.values()) / len(samples) if samples else None,
                cost_usd=_costs(calls, name, "cost_usd"),
                billed_usd=_costs(calls, name, "billed_usd"),
            )
        )
    return out


def reviewer_stats(
    rationales: Rows, reviews: Rows, threshold: float, together: Agreement | None = None
) -> list[ReviewerStats]:
    """Per reviewer, in name order (`together`: the reviews' `agreement`, computed when not given)."""
    gold = {(r["example_id"], r["teacher"]): r.get("gold_ok") for r in rationales}
    valid: dict[Unit, dict[str, float]] = {}
    for r in reviews:
        if _valid(r["score"]):
            valid.setdefault((r["example_id"], r["author"]), {})[r["reviewer"]] = float(r["score"])
    together = together or agreement(_by_reviewer(reviews))
    out = []
    for name in sorted({r["reviewer"] for r in reviews}):
        own = [r for r in reviews if r["reviewer"] == name]
        counts = dict.fromkeys(SCORE_COLUMNS, 0)
        for r in own:
            counts[str(int(r["score"])) if _valid(r["score"]) else "invalid"] += 1
        scores = [float(r["score"]) for r in own if _valid(r["score"])]
        diffs = []
        for by in valid.values():
            others = [s for who, s in by.items() if who != name]
            if name in by and others:
                diffs.append(by[name] - sum(others) / len(others))
        verdicts = Counter(
            (float(r["score"]) > threshold, bool(ok))
            for r in own
            if _valid(r["score"]) and (ok := gold.get((r["example_id"], r["author"]))) is not None
        )
        agree = verdicts[(True, True)] + verdicts[(False, False)]
        out.append(
            ReviewerStats(
                reviewer=name,
                reviews=len(own),
                score_counts=counts,
                mean_score=sum(scores) / len(scores) if scores else None,
                leniency=sum(diffs) / len(diffs) if diffs else None,
                leniency_n=len(diffs),
                alpha_without=together.without.get(name),
                accepted_right=verdicts[(True, True)],
                accepted_wrong=verdicts[(True, False)],
                rejected_right=verdicts[(False, True)],
                rejected_wrong=verdicts[(False, False)],
                gold_agreement=proportion(agree, sum(verdicts.values())),
            )
        )
    return out


def _by_reviewer(reviews: Rows) -> dict[str, dict[Unit, float]]:
    scores: dict[str, dict[Unit, float]] = {}
    for r in reviews:
        scores.setdefault(r["reviewer"], {})
        if _valid(r["score"]):
            scores[r["reviewer"]][(r["example_id"], r["author"])] = float(r["score"])
    return scores


def committee_stats_of(
    tables: Mapping[str, Rows], threshold: float = 3.0, run_id: str = "", round_index: int = 0
) -> CommitteeStats:
    """The statistics of a round's tables (rationales, reviews, acceptance, training_samples,
    teacher_calls; any may be empty). Without acceptance rows the decisions are recomputed (the paper's
    rule: mean > threshold)."""
    rationales, reviews = tables.get("rationales", []), tables.get("reviews", [])
    acceptance, source = tables.get("acceptance", []), "acceptance"
    if not acceptance and rationales:
        acceptance = select_rationales(list(rationales), list(reviews), threshold=threshold)
        source = "recomputed"
    together = agreement(_by_reviewer(reviews))
    decided = [a for a in acceptance if a.get("gold_ok") is not None]
    samples = tables.get("training_samples", [])
    return CommitteeStats(
        run_id=run_id,
        round=round_index,
        threshold=threshold,
        reviews=len(reviews),
        teachers=teacher_stats(rationales, acceptance, samples, tables.get("teacher_calls", [])),
        reviewers=reviewer_stats(rationales, reviews, threshold, together),
        agreement=together,
        acceptance_source=source,
        accepted_wrong=sum(a["accepted"] and not a["gold_ok"] for a in decided),
        rejected_right=sum(not a["accepted"] and a["gold_ok"] for a in decided),
        training_samples=len(samples),
    )


#: The tables `committee_stats` reads from a round (each optional).
TABLES = ("rationales", "reviews", "acceptance", "training_samples", "teacher_calls")


def committee_stats(store: RoundStore, threshold: float | None = None) -> CommitteeStats:
    """The committee statistics of one stored round. `threshold`: the round's own (its manifest's
    select-rationales settings) when not given, else 3 (the paper's). A table the round never wrote is
    empty; one the manifest records but that is lost raises StoreError naming it."""
    if threshold is None:
        settings = store.manifest().get("stages", {}).get("select-rationales", {}).get("settings", {})
        threshold = float(settings.get("review_threshold", 3.0))
    tables = {name: store.rows_if_present(name) for name in TABLES}
    return committee_stats_of(tables, threshold, store.run_id, store.round)
