"""The viewer's queries: one index row per question (flags per round), filters, pages and text search."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from fair_core.store import RunStore
from fair_core.view.tables import RunTables, ViewError

PER_PAGE = 50
#: Characters of a question shown in the list (the detail has it whole).
SNIPPET = 160
FLAGS = ("accepted", "rejected", "fixed", "broken", "unparseable")


@dataclass(frozen=True)
class Filters:
    """What the list shows. The flags, `teacher` and `round` must hold in one same round (any round when
    `round` is None): accepted / rejected = a rationale (by `teacher` when given) was accepted / rejected;
    `teacher` alone = that teacher wrote feedback or a rationale; fixed = the student's answer was wrong
    before the round and right after it, broken the reverse; unparseable = one of those two answers has no
    parseable final answer. `search`: case-insensitive text in the id, question or a rationale."""

    accepted: bool = False
    rejected: bool = False
    fixed: bool = False
    broken: bool = False
    unparseable: bool = False
    teacher: str | None = None
    round: int | None = None
    split: str | None = None
    search: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Filters:
        """From query-string values ('1'/'true' for flags); unknown names are a ViewError."""
        known = {f.name for f in fields(cls)} | {"page", "per_page"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ViewError(f"unknown filter {unknown[0]!r}; known: {', '.join(sorted(known))}")
        flags = {name: params.get(name, "").lower() in ("1", "true", "yes", "on") for name in FLAGS}
        round_text = params.get("round") or ""
        if round_text and not round_text.isdigit():
            raise ViewError(f"round {round_text!r}: give a round number")
        split = params.get("split") or None
        if split not in (None, "train", "test"):
            raise ViewError(f"split {split!r}: use train or test")
        return cls(
            **flags,
            teacher=params.get("teacher") or None,
            round=int(round_text) if round_text else None,
            split=split,
            search=(params.get("search") or "").strip(),
        )


def round_matches(entry: Mapping[str, Any] | None, f: Filters) -> bool:
    """Whether one round's flags of a question pass the filters (the same test as view.js's)."""
    if entry is None:
        return False
    teacher = f.teacher
    if f.accepted and not (teacher in entry["acc"] if teacher else entry["acc"]):
        return False
    if f.rejected and not (teacher in entry["rej"] if teacher else entry["rej"]):
        return False
    if (
        teacher
        and not (f.accepted or f.rejected)
        and teacher not in entry["acc"] + entry["rej"] + entry["fb"]
    ):
        return False
    if (f.fixed and not entry["fixed"]) or (f.broken and not entry["broken"]):
        return False
    return not (f.unparseable and not entry["unp"])


class RunView:
    """A run's questions for the viewer; tables are read lazily, column by column, and kept."""

    def __init__(self, data_dir: str | Path, run_id: str) -> None:
        self.run = RunStore(data_dir, run_id)
        self.run_id = run_id
        if not self.run.root.is_dir():
            known = sorted(p.name for p in self.run.root.parent.glob("*") if p.is_dir())
            raise ViewError(
                f"run {run_id!r} not found under {self.run.root.parent} "
                f"(runs there: {', '.join(known) or 'none'}; see `fair runs`)"
            )
        self.rounds = self.run.rounds()
        if not self.rounds:
            raise ViewError(f"run {run_id!r}: no round folders under {self.run.root} (has it started?)")
        self.tables = RunTables(self.run)
        self.config: dict[str, Any] = {}
        if self.run.config_path.is_file():
            try:
                self.config = json.loads(self.run.config_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.config = {}
        self._index: list[dict[str, Any]] | None = None
        self._by_id: dict[str, dict[str, Any]] = {}
        self._meta: dict[str, Any] | None = None
        self.search_texts: list[str] = []  # per index row: "id\nquestion", lower case
        self._searches: dict[tuple[str, int | None], set[str]] = {}
        self._lock = threading.Lock()

    # --- the index ----------------------------------------------------------------------------------

    def _examples(self) -> list[tuple[str, str, str, str]]:
        """(id, split, question, gold) of every training then test question (first round that has them)."""
        out, seen = [], set()
        for table, split in (("examples", "train"), ("test_examples", "test")):
            k = next((k for k in self.rounds if self.tables.exists(k, table)), None)
            if k is None:
                continue
            rows = self.tables.read(k, table, ("id", "question", "answer"))
            assert rows is not None
            for ex_id, question, gold in zip(
                *(rows.column(c).to_pylist() for c in rows.column_names), strict=True
            ):
                if (split, ex_id) not in seen:
                    seen.add((split, ex_id))
                    out.append((str(ex_id), split, question or "", gold or ""))
        return out

    def _answers(self, k: int, table: str) -> dict[str, tuple[bool, bool]]:
        """{example id: (correct, unparseable)} of an answer table of round k ({} when absent)."""
        rows = (
            self.tables.read(k, table, ("example_id", "predicted", "correct")) if k in self.rounds else None
        )
        if rows is None:
            return {}
        ids, predicted, correct = (rows.column(c).to_pylist() for c in ("example_id", "predicted", "correct"))
        return {i: (bool(c), p is None or p == "") for i, p, c in zip(ids, predicted, correct, strict=True)}

    def _verdicts(self, k: int) -> dict[str, tuple[list[str], list[str], list[str]]]:
        """{example id: (teachers accepted, rejected, with feedback)} of round k, each sorted, grouped by
        pyarrow (no loop over every row in Python)."""
        per: dict[str, tuple[list[str], list[str], list[str]]] = {}
        acceptance = self.tables.read(k, "acceptance", ("example_id", "teacher", "accepted"))
        feedback = self.tables.read(k, "feedback", ("example_id", "teacher"))
        groups = []
        if acceptance is not None:
            grouped = acceptance.group_by(["example_id", "accepted"]).aggregate([("teacher", "list")])
            groups += [
                (i, 0 if ok else 1, t)
                for i, ok, t in zip(
                    *(grouped.column(c).to_pylist() for c in ("example_id", "accepted", "teacher_list")),
                    strict=True,
                )
            ]
        if feedback is not None:
            grouped = feedback.group_by("example_id").aggregate([("teacher", "list")])
            groups += [
                (i, 2, t)
                for i, t in zip(
                    *(grouped.column(c).to_pylist() for c in ("example_id", "teacher_list")), strict=True
                )
            ]
        for ex_id, slot, teachers in groups:
            per.setdefault(ex_id, ([], [], []))[slot].extend(sorted(teachers))
        return per

    def before_after_tables(self, k: int, split: str) -> tuple[tuple[int, str], tuple[int, str]]:
        """(round, table) of the student's answers before and after round k, on `split`."""
        if split == "train":
            return (k, "student_outputs"), (k + 1, "student_outputs")
        return ((0, "baseline_evaluation") if k == 0 else (k - 1, "evaluation")), (k, "evaluation")

    def index(self) -> list[dict[str, Any]]:
        """One row per question: id, split, question snippet, gold, and per round (aligned with `rounds`)
        its flags: ok (before), after, unp, fixed, broken, and the teachers whose rationale was accepted
        (acc) or rejected (rej) and who wrote feedback (fb)."""
        with self._lock:
            if self._index is None:
                self._index = self._build_index()
                self._by_id = {row["id"]: row for row in self._index}
            return self._index

    def row(self, example_id: str) -> dict[str, Any] | None:
        """The index row of one question (None: not in the run)."""
        self.index()
        return self._by_id.get(example_id)

    def _build_index(self) -> list[dict[str, Any]]:
        answers: dict[tuple[int, str], dict[str, tuple[bool, bool]]] = {}

        def get(where: tuple[int, str]) -> dict[str, tuple[bool, bool]]:
            if where not in answers:
                answers[where] = self._answers(*where)
            return answers[where]

        verdicts = {k: self._verdicts(k) for k in self.rounds}
        empty: tuple[list[str], list[str], list[str]] = ([], [], [])
        rows = []
        for ex_id, split, question, gold in self._examples():
            self.search_texts.append(f"{ex_id}\n{question}".lower())
            entries: list[dict[str, Any] | None] = []
            for k in self.rounds:
                before_where, after_where = self.before_after_tables(k, split)
                before, after = get(before_where).get(ex_id), get(after_where).get(ex_id)
                if before is None and after is None:
                    entries.append(None)
                    continue
                acc, rej, fb = verdicts[k].get(ex_id, empty)
                ok, now = (before[0] if before else None), (after[0] if after else None)
                entries.append(
                    {
                        "ok": ok,
                        "after": now,
                        "unp": bool(before and before[1]) or bool(after and after[1]),
                        "fixed": ok is False and now is True,
                        "broken": ok is True and now is False,
                        "acc": acc,
                        "rej": rej,
                        "fb": fb,
                    }
                )
            snippet = question if len(question) <= SNIPPET else question[: SNIPPET - 1] + "…"
            rows.append({"id": ex_id, "split": split, "q": snippet, "gold": gold, "r": entries})
        return rows

    # --- queries ------------------------------------------------------------------------------------

    def teachers(self) -> list[str]:
        names = [t.get("name") for t in self.config.get("teachers", []) if isinstance(t, dict)]
        seen = {t for row in self.index() for e in row["r"] if e for t in e["acc"] + e["rej"] + e["fb"]}
        return [n for n in names if n] + sorted(seen - set(names))

    def meta(self) -> dict[str, Any]:
        """The run, its rounds, teachers, question counts and review settings (computed once)."""
        if self._meta is None:
            self._meta = self._compute_meta()
        return self._meta

    def _compute_meta(self) -> dict[str, Any]:
        index = self.index()
        review = self.config.get("review", {}) if isinstance(self.config.get("review"), dict) else {}
        return {
            "run_id": self.run_id,
            "rounds": self.rounds,
            "teachers": self.teachers(),
            "questions": len(index),
            "train": sum(r["split"] == "train" for r in index),
            "test": sum(r["split"] == "test" for r in index),
            "review": {
                k: review.get(k) for k in ("threshold", "aggregation", "gold_check", "min_valid_scores")
            },
            "per_page": PER_PAGE,
        }

    def _rationale_hits(self, needle: str, round_index: int | None) -> set[str]:
        """Ids of questions with a rationale containing `needle` (lower case), in a round or any."""
        key = (needle, round_index)
        if key not in self._searches:
            hits: set[str] = set()
            for k in [round_index] if round_index is not None else self.rounds:
                table = (
                    self.tables.read(k, "rationales", ("example_id", "text")) if k in self.rounds else None
                )
                if table is None:
                    continue
                mask = pc.match_substring(pc.utf8_lower(table.column("text").fill_null("")), needle)
                hits.update(table.column("example_id").filter(mask).to_pylist())
            if len(self._searches) > 64:
                self._searches.clear()
            self._searches[key] = hits
        return self._searches[key]

    def matching(self, f: Filters) -> list[dict[str, Any]]:
        """The index rows that pass the filters, in index order."""
        index = self.index()
        if f.round is not None and f.round not in self.rounds:
            raise ViewError(f"round {f.round}: the run has rounds {', '.join(map(str, self.rounds))}")
        positions = [self.rounds.index(f.round)] if f.round is not None else range(len(self.rounds))
        needle = f.search.lower()
        hits = self._rationale_hits(needle, f.round) if needle else set()
        conditions = f.round is not None or f.teacher or any(getattr(f, name) for name in FLAGS)
        out = []
        for row, text in zip(index, self.search_texts, strict=True):
            if f.split and row["split"] != f.split:
                continue
            if needle and needle not in text and row["id"] not in hits:
                continue
            if not conditions or any(round_matches(row["r"][p], f) for p in positions):
                out.append(row)
        return out

    def page(self, f: Filters, page: int = 1, per_page: int = PER_PAGE) -> dict[str, Any]:
        """One page of the matching questions (1-based), with the total."""
        if page < 1 or not 1 <= per_page <= 500:
            raise ViewError(f"page {page}, per_page {per_page}: page >= 1 and 1 <= per_page <= 500")
        rows = self.matching(f)
        pages = max(1, -(-len(rows) // per_page))
        start = (page - 1) * per_page
        return {"total": len(rows), "page": page, "pages": pages, "rows": rows[start : start + per_page]}

    def detail(self, example_id: str) -> dict[str, Any]:
        from fair_core.view.detail import question_detail

        return question_detail(self, example_id)
