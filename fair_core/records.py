"""Plain records shared by every stage: dataset examples, chat messages and training samples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: "checker:<module>:<function>" (a custom dataset's user checker) is also accepted where a kind is read.
AnswerKind = Literal["numeric", "boolean", "choice", "exact", "math"]
Role = Literal["system", "user", "assistant"]
TaskName = Literal["rationale", "feedback"]


@dataclass(frozen=True)
class Example:
    """One question of any dataset, in the single row schema used everywhere."""

    id: str
    dataset: str
    question: str
    answer: str
    kind: AnswerKind = "numeric"
    context: str | None = None
    options: tuple[str, ...] | None = None
    solution: str | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["options"] = list(self.options) if self.options is not None else None
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Example:
        options = row.get("options")
        return cls(
            id=str(row["id"]),
            dataset=row["dataset"],
            question=row["question"],
            answer=str(row["answer"]),
            kind=row.get("kind") or "numeric",
            context=row.get("context"),
            options=tuple(options) if options is not None else None,
            solution=row.get("solution"),
        )


def examples_by_id(rows: Iterable[Mapping[str, Any]]) -> dict[str, Example]:
    """Examples table rows as Examples, by id."""
    return {str(row["id"]): Example.from_row(dict(row)) for row in rows}


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class TrainSample:
    """One supervised sample: the loss is taken on `completion` only, scaled by `weight`.

    `prompt` is the student-facing text; a chat student wraps it in its chat template (see
    `fair_core.students.formatting`), exactly as at inference time.
    """

    sample_id: str
    task: TaskName
    prompt: str
    completion: str
    weight: float = 1.0
    meta: dict[str, str] = field(default_factory=dict)
