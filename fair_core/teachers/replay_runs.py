"""Replay books from a run folder: its rounds' `teacher_calls` tables, or the tables `fair import-reference`
wrote (examples, feedback, rationales, reviews: a paper-code run imported into the store)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fair_core.store.parquet import RoundStore, StoreError
from fair_core.teachers.replay import (
    REFERENCE_REVIEWERS,
    Recorded,
    ReplayBook,
    ReplayError,
    build_reference,
    reference_book,
)

#: Recorded statuses that are replies (an error row recorded no reply: replaying it would replay a failure).
REPLIES = ("ok", "refused")


def run_book(folder: Path, rounds: list[int]) -> ReplayBook:
    """Every round's `teacher_calls` (a run of this project), else the imported reference tables."""
    stores = [RoundStore(folder, folder.name, k) for k in rounds]
    try:
        if any(store.exists("teacher_calls") for store in stores):
            return calls_book(folder, stores)
        if stores[0].exists("rationales"):
            return imported_book(folder, stores[0])
    except StoreError as err:
        raise ReplayError(f"replay_source {folder}: {err}") from None
    raise ReplayError(
        f"replay_source {folder}: its rounds have no teacher_calls (nor imported rationales) to replay"
    )


def calls_book(folder: Path, stores: list[RoundStore]) -> ReplayBook:
    """The replies of an earlier run, by request key and by (role, teacher, example, target)."""
    book = ReplayBook(str(folder), "run", origins=recorded_origins(folder))
    for store in stores:
        if not store.exists("teacher_calls"):
            continue
        for row in store.rows("teacher_calls"):
            if row["status"] not in REPLIES:
                continue
            key = (row["role"], row["teacher"], str(row["example_id"]), row["target"] or "")
            book.add(
                key,
                Recorded(
                    text=row["text"],
                    status=row["status"],
                    round=store.round,
                    request_key=row["request_key"],
                    provider=row["provider"],
                    model=row["model"],
                    prompt_tokens=int(row["prompt_tokens"] or 0),
                    completion_tokens=int(row["completion_tokens"] or 0),
                    billed_usd=float(row["billed_usd"] or 0.0),
                ),
            )
    return book


def recorded_origins(folder: Path) -> tuple[str, ...]:
    """The reply origins the recorded run's request keys carry ("" for real teachers; its simulator's)."""
    path = folder / "config.json"
    origins = [""]
    try:
        from fair_core.config import parse_config
        from fair_core.identity import reply_origin

        config = parse_config(json.loads(path.read_text(encoding="utf-8")), str(path))
        origins.append(reply_origin(config))
        origins += [t.identity().get("origin", "") for t in config.teachers]
    except (OSError, ValueError):  # no config (or an older one): exact keys of real teachers only
        pass
    return tuple(dict.fromkeys(o for o in origins))


def imported_book(folder: Path, store: RoundStore) -> ReplayBook:
    """A paper-code run imported with `fair import-reference`: questions from its examples, replies from
    its feedback, rationales and review scores."""
    examples = {str(r["id"]): str(r["question"]) for r in store.rows("examples")}
    notes: dict[str, dict[str, str | None]] = {}
    for row in store.rows_if_present("feedback"):
        if row["status"] == "ok":
            notes.setdefault(str(row["example_id"]), {})[row["teacher"]] = row["text"]
    scores: dict[tuple[str, str, str], Any] = {}
    for row in store.rows_if_present("reviews"):
        scores[(str(row["example_id"]), row["author"], row["reviewer"])] = row["score"]
    graded: dict[str, dict[str, list[Any]]] = {}
    for row in store.rows("rationales"):
        qid, author = str(row["example_id"]), row["teacher"]
        if row["status"] != "ok" or not row["text"]:
            continue
        reviewers = REFERENCE_REVIEWERS.get(author, ())
        graded.setdefault(qid, {})[author] = [row["text"], *(scores.get((qid, author, r)) for r in reviewers)]
    questions = [
        (qid, examples[qid], notes.get(qid, {}), graded.get(qid, {}))
        for qid in sorted(set(notes) | set(graded))
        if qid in examples
    ]
    return build_reference(str(folder), questions)


def load_book(path: Path) -> ReplayBook:
    """The book of the recording in folder `path` (cached per process while its files are unchanged)."""
    patterns = ("*_round0.json", "config.json", "round=*/*.parquet", "round=*/teacher_calls/*.parquet")
    files = sorted(p for pattern in patterns for p in path.glob(pattern))
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _load_book(path, stamp)


@functools.lru_cache(maxsize=16)
def _load_book(path: Path, stamp: tuple[Any, ...]) -> ReplayBook:
    if sorted(path.glob("*_rationale_round0.json")):
        return reference_book(path)
    rounds = sorted(int(p.name.split("=", 1)[1]) for p in path.glob("round=*") if p.name[6:].isdigit())
    if not rounds:
        raise ReplayError(
            f"replay_source {path}: no recorded replies (expected a paper-code reference folder with "
            "*_rationale_round0.json, or a run folder with round=N/ tables)"
        )
    return run_book(path, rounds)
