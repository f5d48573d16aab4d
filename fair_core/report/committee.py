"""The run report's committee section: per-teacher attribution and per-reviewer statistics of a round
(`fair_core.committee_stats`), as dict rows, Markdown and an escaped HTML fragment."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from fair_core.committee_stats import SCORE_COLUMNS, CommitteeStats
from fair_core.stats import format_rate


def _num(value: float | None, digits: int = 2, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _usd(value: float) -> str:
    return f"${value:.4f}"


def teacher_rows(stats: CommitteeStats) -> list[dict[str, str]]:
    """One row per teacher as an author: acceptance, gold answers, training share, cost."""
    return [
        {
            "teacher": t.teacher,
            "rationales": str(t.rationales),
            "accepted": format_rate(t.accepted),
            "accepted reach gold": format_rate(t.accepted_gold_ok),
            "all reach gold": format_rate(t.gold_ok),
            "training samples (rationale + feedback)": f"{t.rationale_samples} + {t.feedback_samples}",
            "training share": "-" if t.training_share is None else f"{t.training_share:.1%}",
            "cost paid (feedback / rationale / review)": " / ".join(
                _usd(t.cost_usd.get(r, 0.0)) for r in ("feedback", "rationale", "review")
            ),
            "cost paid": _usd(t.cost_usd["total"]),
            "cost billed": _usd(t.billed_usd["total"]),
        }
        for t in stats.teachers
    ]


def reviewer_rows(stats: CommitteeStats) -> list[dict[str, str]]:
    """One row per reviewer: score counts, mean, leniency, alpha without it, verdicts against gold."""
    rows = []
    for r in stats.reviewers:
        row = {"reviewer": r.reviewer, "reviews": str(r.reviews)}
        row |= {f"score {c}" if c != "invalid" else "invalid": str(r.score_counts[c]) for c in SCORE_COLUMNS}
        row |= {
            "mean score": _num(r.mean_score),
            "leniency": f"{_num(r.leniency, signed=True)} (n={r.leniency_n})",
            "alpha without it": _num(r.alpha_without, 3),
            "accepted but wrong": str(r.accepted_wrong),
            "rejected but right": str(r.rejected_right),
            "verdict = gold check": format_rate(r.gold_agreement),
        }
        rows.append(row)
    return rows


def pair_rows(stats: CommitteeStats) -> list[dict[str, str]]:
    """One row per reviewer pair: rationales both scored, alpha, equal scores."""
    return [
        {
            "reviewers": f"{p.a} / {p.b}",
            "rationales both scored": str(p.units),
            "alpha (ordinal)": _num(p.alpha, 3),
            "same score": format_rate(p.same_score),
        }
        for p in stats.pairs
    ]


def _summary(stats: CommitteeStats) -> str:
    a = stats.agreement
    source = (
        "the round's acceptance table"
        if stats.acceptance_source == "acceptance"
        else f"recomputed (mean > {stats.threshold:g}; the round has no acceptance table)"
    )
    return (
        f"{stats.reviews} reviews; Krippendorff's alpha (ordinal, all reviewers) {_num(a.alpha, 3)} over "
        f"{a.units} rationales with two or more valid scores. Committee decisions ({source}): "
        f"{stats.accepted_wrong} accepted but wrong answer, {stats.rejected_right} rejected but right answer "
        f"(right answer, flawed rationale). A reviewer's own verdict is score > {stats.threshold:g}; "
        "leniency is its score minus the other reviewers' mean on the same rationales."
    )


def _md_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    if not rows:
        return ["(none)"]
    columns = list(rows[0])

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return lines


def committee_markdown(stats: CommitteeStats) -> str:
    """The committee section in Markdown (one `###` heading per table)."""
    lines = [f"## Committee, round {stats.round}", "", _summary(stats), "", "### Teachers (authors)", ""]
    lines += _md_table(teacher_rows(stats))
    lines += ["", "### Reviewers", "", *_md_table(reviewer_rows(stats))]
    lines += ["", "### Reviewer pairs", "", *_md_table(pair_rows(stats))]
    return "\n".join(lines) + "\n"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_table(rows: Sequence[Mapping[str, Any]], first_text: bool = True) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{_e(r[c])}</td>' if i == 0 and first_text else f"<td>{_e(r[c])}</td>"
            for i, c in enumerate(columns)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def committee_html(stats: CommitteeStats) -> str:
    """The committee section as an HTML fragment (every text escaped)."""
    return "\n".join(
        [
            f'<section class="committee"><h2>Committee, round {_e(stats.round)}</h2>',
            f"<p>{_e(_summary(stats))}</p>",
            "<h3>Teachers (authors)</h3>",
            _html_table(teacher_rows(stats)),
            "<h3>Reviewers</h3>",
            _html_table(reviewer_rows(stats)),
            "<h3>Reviewer pairs</h3>",
            _html_table(pair_rows(stats)),
            "</section>",
        ]
    )
