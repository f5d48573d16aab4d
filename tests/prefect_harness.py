"""Prefect's test harness with its server's database on PostgreSQL instead of a temporary SQLite file.

`prefect.testing.utilities.prefect_test_harness` always puts the server's database in SQLite. There, every
task run that has tags (all of ours: run id, round, stage, teacher, role) first asks the server for its
tag-based concurrency slots (a write transaction on the server), and on SQLite the answer takes about 1 s
per task run here, against about 0.08 s on PostgreSQL (measured side by side: `python bench/prefect_tags.py`;
the endpoint's own code is a small part of that second, by py-spy). This harness does what Prefect's does
(a subprocess server registered as the default, `PREFECT_API_URL`, the global settings context, logs and
events drained before the server stops) with `database_url` as the server's database.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from flows.embedded import free_port


@contextmanager
def postgres_test_harness(database_url: str, startup_timeout: float = 90) -> Iterator[str]:
    """Run a Prefect server on `database_url` (a `postgresql://` URL; asyncpg is used) for the block; yields
    its API URL."""
    import prefect.context
    import prefect.settings as ps
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.server.database.dependencies import temporary_database_interface
    from prefect.utilities.asyncutils import run_coro_as_sync

    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    with ExitStack() as stack:
        stack.enter_context(temporary_database_interface())
        stack.enter_context(ps.temporary_settings(updates={ps.PREFECT_SERVER_DATABASE_CONNECTION_URL: url}))
        server = SubprocessASGIServer(port=free_port())
        prior = SubprocessASGIServer._instances.get(None)
        SubprocessASGIServer._instances[None] = server  # flows that look for a default server find this one
        try:
            server.start(timeout=int(startup_timeout))
            stack.enter_context(ps.temporary_settings(updates={ps.PREFECT_API_URL: server.api_url}))
            stack.enter_context(
                prefect.context._temporary_global_settings_context(prefect.context.get_settings_context())
            )
            yield server.api_url

            async def drain() -> None:  # before the server goes: no lost logs, no stale events
                for result in (APILogWorker.instance().drain(), EventsWorker.drain_all()):
                    if inspect.isawaitable(result):
                        await result

            run_coro_as_sync(drain())
        finally:
            server.stop()
            if prior is not None:
                SubprocessASGIServer._instances[None] = prior
            else:
                SubprocessASGIServer._instances.pop(None, None)
