"""The student inference interface: generation parameters, results and the `StudentBackend` protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerationParams:
    """How to decode: greedy (deterministic) or sampled with `temperature`/`top_p` from `seed`.

    Generation ends at an end-of-sequence token, after `max_new_tokens`, or at the first of the `stop`
    strings (which is cut from the answer, see `fair_core.students.stopping`).
    """

    max_new_tokens: int
    greedy: bool = True
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    """One answer: the decoded new text (special tokens removed) and how many tokens were generated.

    `token_ids` are the generated ids (end-of-sequence token included) when the backend knows them; they are
    left out of equality, which compares what callers store: the text and the token count.
    """

    text: str
    completion_tokens: int
    token_ids: tuple[int, ...] = field(default=(), compare=False, repr=False)


class BackendUnavailableError(RuntimeError):
    """The configured backend cannot run here; the message says what to install or set."""


@runtime_checkable
class StudentBackend(Protocol):
    """A loaded student model that answers plain student-facing prompts.

    The backend applies the chat template itself (see `fair_core.students.formatting`); callers pass the
    plain prompt text. `generate` returns one `Generation` per prompt, in input order, and calls
    `progress(done, total)` as prompts complete. `close` frees the model (memory, GPU).
    """

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        progress: ProgressFn | None = None,
    ) -> list[Generation]: ...

    def close(self) -> None: ...
