"""One question of a run in full, for the viewer: answers before and after each round, feedback, rationales
with their reviews and acceptance, training samples and the teacher calls made for it."""

from __future__ import annotations

from typing import Any, Protocol

from fair_core.view.tables import RunTables, ViewError


class RunView(Protocol):
    """What a question's detail reads from the run (fair_core.view.query.RunView)."""

    run_id: str
    rounds: list[int]
    tables: RunTables

    def before_after_tables(self, k: int, split: str) -> tuple[tuple[int, str], tuple[int, str]]: ...
    def row(self, example_id: str) -> dict[str, Any] | None: ...
    def meta(self) -> dict[str, Any]: ...


ANSWER_COLUMNS = ("example_id", "model", "completion", "predicted", "gold", "correct")
CALL_COLUMNS = (
    "example_id",
    "teacher",
    "role",
    "target",
    "status",
    "mode",
    "cached",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "cost_usd",
    "billed_usd",
    "error",
)


def _answer(view: RunView, where: tuple[int, str], example_id: str, label: str) -> dict[str, Any] | None:
    k, table = where
    if k not in view.rounds:
        return None
    rows = view.tables.rows_for(k, table, example_id, ANSWER_COLUMNS)
    if not rows:
        return None
    row = rows[0]
    predicted = row["predicted"]
    return {
        "label": label,
        "round": k,
        "table": table,
        "model": row["model"],
        "completion": row["completion"],
        "predicted": predicted,
        "correct": bool(row["correct"]),
        "unparseable": predicted is None or predicted == "",
    }


def _labels(k: int, split: str) -> tuple[str, str]:
    if split == "train":
        return (
            f"before: student_{k} on the training set (round {k})",
            f"after: student_{k + 1} on the training set (round {k + 1})",
        )
    before = "student_0 baseline" if k == 0 else f"student_{k} (round {k - 1} evaluation)"
    return (
        f"before: {before} on the test set",
        f"after: student_{k + 1} on the test set (round {k} evaluation)",
    )


def _round(view: RunView, k: int, example_id: str, split: str) -> dict[str, Any]:
    t = view.tables
    before_where, after_where = view.before_after_tables(k, split)
    before_label, after_label = _labels(k, split)
    answers = [
        a
        for a in (
            _answer(view, before_where, example_id, before_label),
            _answer(view, after_where, example_id, after_label),
        )
        if a is not None
    ]
    reviews = t.rows_for(
        k, "reviews", example_id, ("example_id", "author", "reviewer", "status", "score", "valid", "text")
    )
    acceptance = {
        r["teacher"]: r
        for r in t.rows_for(
            k,
            "acceptance",
            example_id,
            ("example_id", "teacher", "n_valid", "mean_score", "gold_ok", "accepted", "reason"),
        )
    }
    rationales = []
    for r in t.rows_for(
        k, "rationales", example_id, ("example_id", "teacher", "status", "text", "predicted", "gold_ok")
    ):
        decision = acceptance.get(r["teacher"])
        rationales.append(
            {
                **{key: r[key] for key in ("teacher", "status", "text", "predicted", "gold_ok")},
                "reviews": [
                    {key: v[key] for key in ("reviewer", "status", "score", "valid", "text")}
                    for v in reviews
                    if v["author"] == r["teacher"]
                ],
                "acceptance": None
                if decision is None
                else {key: v for key, v in decision.items() if key != "example_id"},
            }
        )
    feedback = t.rows_for(k, "feedback", example_id, ("example_id", "teacher", "status", "text"))
    samples = t.rows_for(
        k,
        "training_samples",
        example_id,
        ("example_id", "sample_id", "task", "teacher", "weight", "source_round", "prompt", "completion"),
    )
    calls = t.rows_for(k, "teacher_calls", example_id, CALL_COLUMNS)
    mistake = bool(t.rows_for(k, "mistakes", example_id, ("example_id",))) if split == "train" else False
    drop = lambda rows: [{key: v for key, v in row.items() if key != "example_id"} for row in rows]  # noqa: E731
    return {
        "round": k,
        "answers": answers,
        "mistake": mistake,
        "feedback": drop(feedback),
        "rationales": rationales,
        "samples": drop(samples),
        "calls": drop(calls),
    }


def question_detail(view: RunView, example_id: str) -> dict[str, Any]:
    """Everything the run holds about one question (ViewError when no such question)."""
    row = view.row(example_id)
    if row is None:
        raise ViewError(f"question {example_id!r} is not in run {view.run_id}")
    split = row["split"]
    table = "examples" if split == "train" else "test_examples"
    columns = ("id", "dataset", "kind", "question", "context", "options", "answer", "solution")
    k = next(k for k in view.rounds if view.tables.exists(k, table))
    example = view.tables.rows_for(k, table, example_id, columns, key="id")[0]
    return {
        "id": example_id,
        "split": split,
        **{key: example[key] for key in columns if key != "id"},
        "flags": row["r"],
        "rounds": [_round(view, k, example_id, split) for k in view.rounds],
        "review": view.meta()["review"],
    }
