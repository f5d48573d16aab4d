"""The recorded-reply book of a replayed teacher: loaded from a paper-code reference folder or a run folder,
looked up by what a call is about (role, teacher, question, the author a review grades).

Two kinds of recording:

- reference (the FAIR paper code's `*_feedback_round0.json` / `*_rationale_round0.json`, or the tables
  `fair import-reference` wrote): its requests were written with the paper's prompts about the paper
  student's answers, so a call is matched by its question (the recorded question text found in the call's
  messages, the earliest one), its role and teacher; a review by the rationale it grades (the recorded
  author's text must be in the review prompt). A review reply is rebuilt from the recorded score, "[n]".
- run (an earlier run's `teacher_calls` tables): by the exact request (its key, as the recorded run computed
  it), else by (role, teacher, example id, reviewed author), the earliest round first.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fair_core.config.base import ConfigError
from fair_core.config.run import FOLDER_NAME

if TYPE_CHECKING:
    from fair_core.teachers.calls import PlannedCall

#: The paper code's JSON key -> our teacher name, and who reviewed whom (its score order); the same as
#: `fair_core.store.reference` (not imported: that module needs the answer checkers).
REFERENCE_TEACHERS = {"gpt": "gpt", "gemini": "gemini", "mistral": "mixtral"}
REFERENCE_REVIEWERS = {
    "gpt": ("gemini", "mixtral"),
    "gemini": ("gpt", "mixtral"),
    "mixtral": ("gpt", "gemini"),
}
#: (role, recorded teacher, question key, recorded author of the reviewed rationale or "")
Key = tuple[str, str, str, str]


class ReplayError(ConfigError):
    """A recording cannot be read or does not have what a replayed teacher needs; one line naming it."""


@dataclass(frozen=True)
class Recorded:
    """One recorded reply (`status` ok or refused), with the usage and price the recording gives."""

    text: str | None
    status: str = "ok"
    round: int = 0
    request_key: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    billed_usd: float = 0.0


def norm(text: str) -> str:
    """Whitespace collapsed: how question and rationale texts are compared with prompts."""
    return " ".join(text.split())


def review_text(score: int, reviewer: str, source: str) -> str:
    """A review reply rebuilt from a recorded score (`fair_core.review.parse_score` reads it back)."""
    return (
        f"Reconstructed from the score {reviewer} gave in the recording {source} (its review text was not "
        f"recorded). [{score}]"
    )


@dataclass
class ReplayBook:
    """Recorded replies by what they answer; `lookup` finds the one for a planned call."""

    source: str
    kind: Literal["reference", "run"]
    calls: dict[Key, list[Recorded]] = field(default_factory=dict)
    #: (question key, author, round) -> the recorded rationale text (reviews are matched by it)
    rationales: dict[tuple[str, str, int], str] = field(default_factory=dict)
    #: reference: normalised question text -> question key
    questions: dict[str, str] = field(default_factory=dict)
    #: run: the recorded run's reply origin (its request keys carry it)
    origins: tuple[str, ...] = ("",)

    @functools.cached_property
    def teachers(self) -> list[str]:
        """The recorded teachers (computed once: a book is complete before it is looked up)."""
        return sorted({key[1] for key in self.calls})

    def add(self, key: Key, recorded: Recorded) -> None:
        self.calls.setdefault(key, []).append(recorded)
        if key[0] == "rationale" and recorded.text:
            self.rationales.setdefault((key[2], key[1], recorded.round), recorded.text)

    def question_of(self, call: PlannedCall, question: str | None = None) -> str | None:
        """The call's question key: a run's example id; for a reference, the recorded question whose text
        is `question` (the example's, when the caller knows it), else the first one the messages hold."""
        if self.kind == "run":
            return call.example_id
        if question is not None:
            return self.questions.get(norm(question))
        content = norm(" ".join(m.content for m in call.request.messages))
        best: tuple[int, int, str] | None = None
        for text, key in self.questions.items():
            at = content.find(text)
            if at >= 0 and (best is None or (at, -len(text)) < best[:2]):
                best = (at, -len(text), key)
        return best[2] if best else None

    def lookup(
        self, call: PlannedCall, teacher: str, round_only: int | None = None, question: str | None = None
    ) -> Recorded | str:
        """The recorded reply of `teacher` (a recorded name) to `call` (about `question`, the example's text
        when known), or why there is none."""
        question = self.question_of(call, question)
        if question is None:
            return "its question is not recorded"
        if call.role == "review":
            return self._review(call, teacher, question, round_only)
        found = self._rounds(self.calls.get((call.role, teacher, question, "")), round_only)
        if not found:
            return f"no {call.role} of {teacher} recorded for this question"
        return self._same_request(call, found) or found[0]

    def _rounds(self, found: list[Recorded] | None, round_only: int | None) -> list[Recorded]:
        return [r for r in found or () if round_only is None or r.round == round_only]

    def _same_request(self, call: PlannedCall, found: list[Recorded]) -> Recorded | None:
        """The recorded reply to this very request (its key as the recorded run computed it)."""
        for recorded in found:
            if recorded.request_key is None:
                continue
            for origin in self.origins:
                request = replace(
                    call.request,
                    provider=recorded.provider or call.request.provider,
                    model=recorded.model or call.request.model,
                    origin=origin,
                )
                if request.key() == recorded.request_key:
                    return recorded
        return None

    def _review(
        self, call: PlannedCall, teacher: str, question: str, round_only: int | None
    ) -> Recorded | str:
        """A review grades a rationale text: the recorded author whose text the prompt holds."""
        prompt = norm(" ".join(m.content for m in call.request.messages))
        authors = [a for a in self.teachers if a != teacher]
        authors.sort(key=lambda a: a != call.target)  # the author of the same name first
        for author in authors:
            found = self._rounds(self.calls.get(("review", teacher, question, author)), round_only)
            same = self._same_request(call, found)
            if same is not None:
                return same
            for recorded in found:
                text = self.rationales.get((question, author, recorded.round))
                if text and norm(text) in prompt:
                    return recorded
        return f"no review by {teacher} recorded of the rationale this call grades"


def resolve_source(source: str, data_dir: str | Path | None = None) -> Path:
    """The recording's folder: `source` as a path (from the working directory), else a run id in
    `data_dir`; ReplayError when neither exists."""
    path = Path(source).expanduser()
    if path.is_file():  # one of a reference's files: its folder
        return path.resolve().parent
    if path.is_dir():
        return path.resolve()
    if data_dir is not None and FOLDER_NAME.fullmatch(source):
        run = Path(data_dir).expanduser() / "runs" / source
        if run.is_dir():
            return run.resolve()
    where = f" nor a run in {Path(data_dir).expanduser() / 'runs'}" if data_dir is not None else ""
    raise ReplayError(
        f"replay_source {source!r}: no such folder{where}; give a paper-code reference folder "
        "(*_rationale_round0.json), a run folder or a run id"
    )


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReplayError(f"replay_source {path}: cannot read it as JSON ({err})") from None
    if not isinstance(data, list):
        raise ReplayError(f"replay_source {path}: expected a JSON list of rows")
    return data


def _one(folder: Path, role: str) -> Path:
    found = sorted(folder.glob(f"*_{role}_round0.json"))
    if len(found) != 1:
        names = [p.name for p in found]
        raise ReplayError(f"replay_source {folder}: expected one *_{role}_round0.json file, found {names}")
    return found[0]


def reference_book(folder: Path) -> ReplayBook:
    """The paper code's round 0: each teacher's feedback, rationale and the two scores it received."""
    rationale_path, feedback_path = _one(folder, "rationale"), _one(folder, "feedback")
    feedback = {str(r.get("id")): r for r in _read_json_list(feedback_path)}
    questions: list[tuple[str, str, dict[str, str | None], dict[str, Any]]] = []
    for row in _read_json_list(rationale_path):
        if not isinstance(row, Mapping) or "id" not in row or not row.get("question"):
            raise ReplayError(f"replay_source {rationale_path.name}: a row without id or question")
        qid = str(row["id"])
        notes = {t: feedback.get(qid, {}).get(f"{k}_feedback") for k, t in REFERENCE_TEACHERS.items()}
        graded = {t: row.get(f"{k}_rationale") for k, t in REFERENCE_TEACHERS.items()}
        questions.append((qid, str(row["question"]), notes, graded))
    return build_reference(str(folder), questions)


def build_reference(
    source: str, questions: Iterable[tuple[str, str, Mapping[str, str | None], Mapping[str, Any]]]
) -> ReplayBook:
    """A reference book from (question id, question text, feedback by teacher, [rationale text, score by
    the first reviewer, by the second] by teacher, reviewers in `REFERENCE_REVIEWERS` order)."""
    book = ReplayBook(source, "reference")
    for qid, question, notes, graded in questions:
        book.questions.setdefault(norm(question), qid)
        for teacher, text in notes.items():
            if text:
                book.add(("feedback", teacher, qid, ""), Recorded(text))
        for author, entry in graded.items():
            if not isinstance(entry, list | tuple) or not entry or not entry[0]:
                continue
            text, *scores = entry
            book.add(("rationale", author, qid, ""), Recorded(str(text)))
            for reviewer, score in zip(REFERENCE_REVIEWERS.get(author, ()), scores, strict=False):
                if isinstance(score, int | float):
                    reply = review_text(int(score), reviewer, source)
                    book.add(("review", reviewer, qid, author), Recorded(reply))
    return book
