"""The facts both export cards state: the committee, acceptance per teacher, the prompt templates used,
accuracy per round with n and its Wilson interval, the code version."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fair_core.export.source import ExportSource
from fair_core.prompts.builder import BUILTIN_DIR
from fair_core.report.summary import summary_rate
from fair_core.stats import Proportion, format_rate, proportion
from fair_core.store.parquet import code_version


def committee_rows(source: ExportSource) -> list[dict[str, str]]:
    """One row per teacher: name, provider, model, endpoint host (never a key), sampling."""
    rows = []
    for t in source.config.teachers:
        host = urlsplit(t.base_url).hostname if t.base_url else None
        rows.append(
            {
                "teacher": t.name,
                "provider": t.provider,
                "model": t.model,
                "endpoint": host or "provider default",
                "temperature": f"{t.temperature:g}" if t.temperature is not None else "-",
                "mode": t.mode,
            }
        )
    return rows


def acceptance_by_teacher(source: ExportSource) -> list[dict[str, Any]]:
    """Per round and teacher (and over all rounds): rationales reviewed, accepted, their Proportion."""
    totals: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    names = [t.name for t in source.config.teachers]
    for k in source.rounds:
        decisions = source.run.round(k).rows_if_present("acceptance")
        judged = Counter(a["teacher"] for a in decisions)
        accepted = Counter(a["teacher"] for a in decisions if a["accepted"])
        for teacher in dict.fromkeys([*names, *sorted(judged)]):
            totals[teacher] += judged[teacher]
            kept[teacher] += accepted[teacher]
            rate = proportion(accepted[teacher], judged[teacher])
            rows.append({"round": str(k), "teacher": teacher, "rate": rate})
    if len(source.rounds) > 1:
        for teacher in dict.fromkeys([*names, *sorted(totals)]):
            rows.append(
                {"round": "all", "teacher": teacher, "rate": proportion(kept[teacher], totals[teacher])}
            )
    return rows


def rate_text(rate: Proportion) -> str:
    """`66.7% (12/18, 95% CI 43.7-83.7%)`, or `none reviewed`."""
    return format_rate(rate) if rate.n else "none reviewed"


def accuracy_rows(source: ExportSource) -> list[dict[str, Any]]:
    """Test accuracy of the base student (before round 0) and after each exported round: label, round,
    Proportion (None when the round has no evaluation)."""
    rows: list[dict[str, Any]] = []
    first = source.summaries[source.rounds[0]]
    before = summary_rate(first, "test_accuracy_before")
    if before is not None:
        rows.append({"label": "base student (before round 0)", "round": None, "rate": before})
    for k in source.rounds:
        after = summary_rate(source.summaries[k], "test_accuracy_after")
        if after is not None:
            rows.append({"label": f"after round {k}", "round": k, "rate": after})
    return rows


def _template(template_dir: str | None, name: str) -> Path | None:
    for folder in (Path(template_dir).expanduser() if template_dir else None, BUILTIN_DIR):
        if folder is not None and (folder / f"{name}.txt").is_file():
            return folder / f"{name}.txt"
    return None


def templates_used(source: ExportSource) -> list[tuple[str, str, str]]:
    """(name, origin, text) of every prompt template the run's teachers, reviewers and training used."""
    examples = source.run.round(source.rounds[0]).rows_if_present("examples")
    first = examples[0] if examples else {}
    kind = str(first.get("kind") or "numeric")
    kind = "exact" if kind.startswith("checker:") else kind
    dataset = str(first.get("dataset") or "").replace("/", "_")
    folder = source.config.prompts.template_dir

    def per_dataset(prefix: str) -> str:
        specific = f"{prefix}_{dataset}"
        return specific if dataset and _template(folder, specific) else f"{prefix}_{kind}"

    names = [
        per_dataset("student"),
        "feedback_system",
        "feedback",
        "review_system",
        "review",
        *(["review_author"] if source.config.review.show_author else []),
        "train_layout",
        per_dataset("train_instruction"),
        "train_instruction_feedback",
        "train_feedback_input",
    ]
    out = []
    for name in names:
        path = _template(folder, name)
        if path is not None:
            origin = "built-in" if path.parent == BUILTIN_DIR else f"from {path.parent}"
            out.append((name, origin, path.read_text(encoding="utf-8").strip("\n")))
    return out


def code_versions(source: ExportSource) -> dict[str, str]:
    """The code that ran the run (from its round manifests) and the one that exported it."""
    ran = [source.run.round(k).manifest().get("code_version") for k in source.rounds]
    return {"run": ", ".join(dict.fromkeys(v for v in ran if v)) or "-", "export": code_version()}


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    """A Markdown table (`|` in cells escaped)."""

    def cell(value: Any) -> str:
        return str(value if value is not None else "-").replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows),
    ]


def size_category(n: int) -> str:
    """The Hub's `size_categories` value for n rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M" if n < 1_000_000 else "1M<n<10M"
