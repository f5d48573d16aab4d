"""Stop strings, applied the same way by every student backend: the completion ends before the first one."""

from __future__ import annotations

from collections.abc import Sequence


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to (not including) the earliest stop string, and whether one was found.

    Backends stop generating at the token that completes a stop string; this gives every backend the same
    visible completion (vLLM's and the OpenAI API's convention: the stop string itself is left out).
    """
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
