"""Stage progress from inside a Prefect task: the CLI's live display (the process-wide sink of
`fair_core.progress`) plus one Prefect progress artifact per task run, keyed `progress-<run id>-round-<k>-
<what>` (`tasks.naming.progress_key`), created once and updated; the reports are separate artifacts."""

from __future__ import annotations

import time

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from fair_core.progress import get_sink
from tasks.logs import task_logger

#: Seconds between two updates of the Prefect progress artifact / log line (the CLI display is live).
THROTTLE_S = 2.0


class TaskProgress:
    """Callable `(done, total, info="")` reporting one stage; use as a context manager."""

    def __init__(self, stage: str, total: int, key: str | None = None) -> None:
        self.stage = stage
        self.total = total
        self.key = key
        self._sink = get_sink()
        self._last = 0.0
        self._artifact = None
        self._logger = task_logger()
        self._started = time.monotonic()

    def describe(self, done: int, total: int, info: str = "") -> str:
        """The artifact text: done/total, rate, ETA and the extras (cache hits, errors, cost)."""
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f", ETA {(total - done) / rate:.0f}s" if rate > 0 and done < total else ""
        extra = f"; {info}" if info else ""
        return f"{self.stage}: {done}/{total} ({rate:.1f}/s{eta}){extra}"

    def __enter__(self) -> TaskProgress:
        self._started = time.monotonic()
        self._sink.start(self.stage, self.total)
        try:
            self._artifact = create_progress_artifact(0.0, key=self.key, description=self.stage)
        except Exception as err:  # artifacts are a view, never a reason to fail the work
            self._logger.debug("progress artifact unavailable: %s", err)
        return self

    def __call__(self, done: int, total: int | None = None, info: str = "") -> None:
        total = total or self.total
        self._sink.update(self.stage, done, total, info)
        now = time.monotonic()
        if now - self._last < THROTTLE_S and done < total:
            return
        self._last = now
        percent = 100.0 * done / total if total else 100.0
        description = self.describe(done, total, info)
        self._logger.info("%s", description)
        if self._artifact is not None:
            try:
                update_progress_artifact(self._artifact, percent, description=description)
            except Exception as err:
                self._logger.debug("progress artifact update failed: %s", err)

    def __exit__(self, *exc: object) -> None:
        self._sink.finish(self.stage)
        if self._artifact is not None and exc[0] is None:
            try:
                update_progress_artifact(self._artifact, 100.0)
            except Exception as err:
                self._logger.debug("progress artifact update failed: %s", err)
