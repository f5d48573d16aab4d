"""The distilled dataset of a run: one row per training sample the student learnt from, with its provenance
(question, round, teacher, task, the peer reviews and acceptance of a rationale), as Hub-ready Parquet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fair_core.export.source import ExportSource
from fair_core.store.parquet import RoundStore

DATA_DIR = "data"
#: One split, one shard: `datasets.load_dataset(folder)` finds it through the card's `configs`.
TRAIN_FILE = f"{DATA_DIR}/train-00000-of-00001.parquet"
TRAIN_GLOB = f"{DATA_DIR}/train-*.parquet"

_S = pa.string()
REVIEW = pa.struct([("reviewer", _S), ("score", pa.int32()), ("valid", pa.bool_())])
MESSAGE = pa.struct([("role", _S), ("content", _S)])
#: Column -> (type, what it is): the schema and the dataset card's column table.
COLUMNS: dict[str, tuple[pa.DataType, str]] = {
    "sample_id": (_S, "stable id of the sample (hash of task, question, teacher, prompt, completion)"),
    "round": (pa.int32(), "FAIR round the sample was built in (0 = from the base student's mistakes)"),
    "task": (_S, "rationale (learn from the gold rationale) or feedback (learn from your own mistakes)"),
    "question_id": (_S, "id of the question in the source dataset"),
    "teacher": (_S, "committee member that wrote the completion"),
    "teacher_provider": (_S, "its API (openai-compatible, gemini, mistral, replay)"),
    "teacher_model": (_S, "its model"),
    "prompt": (_S, "the student's training prompt (before any chat template)"),
    "completion": (_S, "the target text the student was trained to write"),
    "messages": (pa.list_(MESSAGE), "prompt and completion as a user/assistant chat"),
    "weight": (pa.float64(), "sample weight of the FAIR loss (alpha folded in; mean 1)"),
    "question": (_S, "the question"),
    "gold_answer": (_S, "its correct answer"),
    "student_answer": (_S, "feedback: the student's wrong answer the feedback is about"),
    "review_scores": (pa.list_(REVIEW), "rationale: every peer review (reviewer, score 1-5, valid)"),
    "review_mean": (pa.float64(), "rationale: mean of the valid review scores"),
    "review_aggregate": (pa.float64(), "rationale: the score acceptance compared (review.aggregation)"),
    "accepted": (pa.bool_(), "rationale: kept by the committee (always true for a trained sample)"),
    "acceptance_reason": (_S, "rationale: why it was kept"),
}
SCHEMA = pa.schema([(name, kind) for name, (kind, _) in COLUMNS.items()])


def _examples(store: RoundStore, cache: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for row in store.rows_if_present("examples"):
        cache.setdefault(row["id"], row)
    return cache


def _round_facts(store: RoundStore) -> dict[str, Any]:
    reviews: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in store.rows_if_present("reviews"):
        score = r.get("score")
        entry = {"reviewer": r["reviewer"], "score": score, "valid": bool(r.get("valid"))}
        reviews.setdefault((r["example_id"], r["author"]), []).append(entry)
    acceptance = {(a["example_id"], a["teacher"]): a for a in store.rows_if_present("acceptance")}
    wrong = {
        m["example_id"]: m.get("student_completion") or m.get("student_prediction")
        for m in store.rows_if_present("mistakes")
    }
    return {"reviews": reviews, "acceptance": acceptance, "wrong": wrong}


def trained_sample_rows(source: ExportSource) -> list[tuple[int, dict[str, Any]]]:
    """(round, row) of the training_samples the exported student learnt from: every round's set for
    training.data=round (the adapter went on training round after round), the last round's for cumulative
    (its set already holds the earlier rounds' samples)."""
    rounds = source.rounds if source.config.training.data != "cumulative" else source.rounds[-1:]
    out = []
    for k in rounds:
        for row in source.run.round(k).rows_if_present("training_samples"):
            built = row.get("source_round")
            out.append((int(built) if built is not None else k, row))
    return out


def distilled_rows(source: ExportSource) -> list[dict[str, Any]]:
    """One dict per trained sample, columns as in `COLUMNS`."""
    teachers = {t.name: t for t in source.config.teachers}
    examples: dict[str, dict[str, Any]] = {}
    facts: dict[int, dict[str, Any]] = {}
    rows = []
    for built, sample in trained_sample_rows(source):
        if built not in facts:
            store = source.run.round(built)
            facts[built] = _round_facts(store)
            _examples(store, examples)
        fact = facts[built]
        qid, teacher = sample["example_id"], sample["teacher"]
        example = examples.get(qid) or _examples(source.run.round(0), examples).get(qid) or {}
        member = teachers.get(teacher)
        row: dict[str, Any] = {
            "sample_id": sample["sample_id"],
            "round": built,
            "task": sample["task"],
            "question_id": qid,
            "teacher": teacher,
            "teacher_provider": member.provider if member else None,
            "teacher_model": member.model if member else None,
            "prompt": sample["prompt"],
            "completion": sample["completion"],
            "messages": [
                {"role": "user", "content": sample["prompt"]},
                {"role": "assistant", "content": sample["completion"]},
            ],
            "weight": sample["weight"],
            "question": example.get("question"),
            "gold_answer": example.get("answer"),
            "student_answer": None,
            "review_scores": [],
            "review_mean": None,
            "review_aggregate": None,
            "accepted": None,
            "acceptance_reason": None,
        }
        if sample["task"] == "feedback":
            row["student_answer"] = fact["wrong"].get(qid)
        else:
            reviews = fact["reviews"].get((qid, teacher), [])
            valid = [r["score"] for r in reviews if r["valid"] and r["score"] is not None]
            decision = fact["acceptance"].get((qid, teacher)) or {}
            row |= {
                "review_scores": reviews,
                "review_mean": sum(valid) / len(valid) if valid else None,
                "review_aggregate": decision.get("mean_score"),
                "accepted": decision.get("accepted"),
                "acceptance_reason": decision.get("reason"),
            }
        rows.append(row)
    return rows


def write_parquet(folder: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """The rows as `folder/data/train-00000-of-00001.parquet` (declared schema, also when empty)."""
    path = Path(folder) / TRAIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([dict(r) for r in rows], schema=SCHEMA)
    pq.write_table(table, path)
    return path
