"""Small picklable references passed between stages instead of data: a round, a table, a student model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fair_core.hashing import file_hash
from fair_core.prompts import PromptSet
from fair_core.store.location import as_path, is_remote, local_folder
from fair_core.store.parquet import RoundStore, RunStore

#: Written by the trainer beside every model it saves (steps, losses, sample counts).
TRAIN_RECORD = "train_result.json"


@dataclass(frozen=True)
class RoundRef:
    """Where one round of one run keeps its tables."""

    data_dir: str
    run_id: str
    round: int

    def store(self) -> RoundStore:
        return RunStore(self.data_dir, self.run_id).round(self.round)

    def table(self, name: str, part: str | None = None) -> TableRef:
        return TableRef(self, name, part)

    def fingerprint(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "round": self.round}


@dataclass(frozen=True)
class TableRef:
    """A table of a round; its fingerprint is the hash of its content. Both its fingerprint and its rows
    check the table against the round's manifest first: a lost or changed table is a StoreError naming it
    (and how to rebuild it), never a stale hash or a raw pyarrow error."""

    where: RoundRef
    name: str
    part: str | None = None

    def store(self) -> RoundStore:
        return self.where.store()

    def rows(self) -> list[dict[str, Any]]:
        store = self.store()
        store.verified_hash(self.name, self.part)
        return store.rows(self.name, self.part)

    def fingerprint(self) -> dict[str, Any]:
        sha = self.store().verified_hash(self.name, self.part)
        return {"table": self.name, "part": self.part, "sha256": sha}


@dataclass(frozen=True)
class PromptsRef:
    """The prompt templates in use: the built-in ones or a user folder, the teachers' hint and how the
    student is asked (see `PromptSet`); fingerprint = their text and the non-default settings."""

    template_dir: str | None = None
    teacher_hint: str = "answer"
    answer_layout: str = "student"

    def load(self) -> PromptSet:
        return PromptSet(self.template_dir, self.teacher_hint, self.answer_layout)

    def fingerprint(self) -> str:
        return self.load().fingerprint()


@dataclass(frozen=True)
class ModelRef:
    """A student: a base checkpoint (or alias) plus an optional LoRA adapter or fine-tuned folder."""

    base: str
    adapter: str | None = None
    label: str = "student"

    def local(self) -> ModelRef:
        """The same student with folders on object storage downloaded (`location.local_folder`)."""
        if not is_remote(self.base) and not (self.adapter and is_remote(self.adapter)):
            return self

        def here(folder: str) -> str:
            return str(local_folder(folder)) if is_remote(folder) else folder

        return ModelRef(here(self.base), here(self.adapter) if self.adapter else None, self.label)

    def fingerprint(self) -> dict[str, Any]:
        """The base by name (a checkpoint we trained: by its training record), the adapter by content."""
        record = as_path(self.base) / TRAIN_RECORD
        base = file_hash(record) if record.is_file() else as_path(self.base).name
        trained = file_hash(self.adapter) if self.adapter else None
        return {"base": base, "adapter_sha256": trained}
