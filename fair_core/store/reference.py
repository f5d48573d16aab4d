"""Import the FAIR paper code's round-0 files (`*_false/_feedback/_rationale_round0.json`) into the store.

Run: `fair import-reference ../shared/datasets/reference_round0 --run-id reference-svamp`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fair_core.answers import answers_match, extract_answer, normalize_gold
from fair_core.records import AnswerKind
from fair_core.store.parquet import RoundStore

#: Reference JSON key -> our teacher name, and who reviewed whom: the two scores stored with each
#: rationale come from these reviewers, in this order (the paper code's order).
REFERENCE_TEACHERS = {"gpt": "gpt", "gemini": "gemini", "mistral": "mixtral"}
REFERENCE_REVIEWERS = {
    "gpt": ("gemini", "mixtral"),
    "gemini": ("gpt", "mixtral"),
    "mixtral": ("gpt", "gemini"),
}
ROLE_FILES = {"false": "mistakes", "feedback": "feedback", "rationale": "rationales"}


class ReferenceFormatError(ValueError):
    """A reference file is missing or a row does not have the expected fields; names file and row id."""


@dataclass(frozen=True)
class ImportSummary:
    dataset: str
    questions: int
    tables: dict[str, int]
    reference_accepted: dict[str, int]


def find_reference_files(folder: Path) -> dict[str, Path]:
    """The three files of one run, by role ('false', 'feedback', 'rationale')."""
    found: dict[str, Path] = {}
    for role in ROLE_FILES:
        matches = sorted(folder.glob(f"*_{role}_round0.json"))
        if len(matches) != 1:
            raise ReferenceFormatError(
                f"{folder}: expected exactly one *_{role}_round0.json file, found {[m.name for m in matches]}"
            )
        found[role] = matches[0]
    return found


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ReferenceFormatError(f"{path}: cannot read JSON ({err})") from None
    if not isinstance(data, list):
        raise ReferenceFormatError(f"{path}: expected a JSON list of rows")
    return data


def _field(row: dict[str, Any], name: str, path: Path) -> Any:
    if name not in row:
        raise ReferenceFormatError(f"{path.name} row id={row.get('id')!r}: missing field {name!r}")
    return row[name]


def import_reference(
    folder: str | Path,
    store: RoundStore,
    *,
    dataset: str = "svamp",
    kind: AnswerKind = "numeric",
    on_skip: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Write examples, mistakes, feedback, rationales and reviews tables from the reference files."""
    files = find_reference_files(Path(folder))
    rationale_path = files["rationale"]
    examples, mistakes, feedback, rationales, reviews = [], [], [], [], []
    reference_accepted: dict[str, int] = {t: 0 for t in REFERENCE_TEACHERS.values()}
    feedback_rows = {str(r.get("id")): r for r in _load(files["feedback"])}
    for row in _load(rationale_path):
        example_id = str(_field(row, "id", rationale_path))
        try:
            gold = normalize_gold(str(_field(row, "gold_answer", rationale_path)), kind)
        except ValueError as err:
            if on_skip:
                on_skip(f"{rationale_path.name} row id={example_id}: {err}")
            continue
        examples.append(
            {
                "id": example_id,
                "split": "train",
                "dataset": dataset,
                "kind": kind,
                "question": _field(row, "question", rationale_path),
                "answer": gold,
            }
        )
        mistakes.append(
            {
                "example_id": example_id,
                "student_completion": row.get("student_wrong_pred"),
                "student_prediction": row.get("student_wrong_final_answer"),
                "gold": gold,
            }
        )
        accepted_texts = set(row.get("correct_rationale") or [])
        for key, teacher in REFERENCE_TEACHERS.items():
            text, *scores = _field(row, f"{key}_rationale", rationale_path)
            predicted = extract_answer(text, kind)
            rationales.append(
                {
                    "example_id": example_id,
                    "teacher": teacher,
                    "status": "ok",
                    "text": text,
                    "predicted": predicted,
                    "gold_ok": answers_match(predicted, gold, kind),
                }
            )
            reference_accepted[teacher] += text in accepted_texts
            for reviewer, score in zip(REFERENCE_REVIEWERS[teacher], scores, strict=True):
                reviews.append(
                    {
                        "example_id": example_id,
                        "author": teacher,
                        "reviewer": reviewer,
                        "status": "ok",
                        "score": int(score),
                        "valid": 1 <= score <= 5,
                        "text": None,
                    }
                )
            fb = feedback_rows.get(example_id, {}).get(f"{key}_feedback")
            feedback.append(
                {
                    "example_id": example_id,
                    "teacher": teacher,
                    "status": "ok" if fb else "missing",
                    "text": fb,
                }
            )
    tables = {
        "examples": examples,
        "mistakes": mistakes,
        "feedback": feedback,
        "rationales": rationales,
        "reviews": reviews,
    }
    for name, rows in tables.items():
        store.write(name, rows)
    store.set_meta(source="reference", reference_files={k: p.name for k, p in files.items()})
    return ImportSummary(dataset, len(examples), {k: len(v) for k, v in tables.items()}, reference_accepted)
