"""What a tagged task run costs on Prefect's SQLite server vs a PostgreSQL one: `python bench/prefect_tags.py
[--tasks N]` (needs `make postgres`: a throw-away server from tests/pg.py).

Every task run with tags asks the server for its tag-based concurrency slots first (Prefect 3.8's task
engine, `/v2/concurrency_limits/increment-with-lease`, a write transaction), even when no limit exists; a
tag set seen in the last 5 s is answered from a client-side cache. Our task runs carry tags that differ
from task to task (run id, round, stage, teacher, role), so each pays the round trip. This runs one flow
of N untagged task runs and one of N task runs with a fresh tag each, on Prefect's test harness (SQLite)
and on the same harness with a PostgreSQL database (tests/prefect_harness.py), one after the other in one
process, and prints seconds per task run and the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(tasks: int) -> tuple[float, float]:
    """Seconds per task run: untagged, then with a fresh tag each."""
    from prefect import flow, task

    @task
    def step(i: int) -> int:
        return i

    @flow
    def many(n: int, tagged: bool) -> float:
        start = time.perf_counter()
        for i in range(n):
            step.with_options(tags=[f"t-{uuid.uuid4().hex[:8]}"] if tagged else [])(i)
        return (time.perf_counter() - start) / n

    many(3, True)  # warm-up: imports, the first flow run
    return many(tasks, False), many(tasks, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20, help="task runs per flow (default 20)")
    args = parser.parse_args()

    from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from tests.pg import PgServer
    from tests.prefect_harness import postgres_test_harness

    figures: dict[str, tuple[float, float]] = {}
    with temporary_settings(updates={PREFECT_SERVER_ANALYTICS_ENABLED: False}):
        with prefect_test_harness(server_startup_timeout=120):
            figures["SQLite (prefect_test_harness)"] = measure(args.tasks)
        pg = PgServer().start()
        try:
            with postgres_test_harness(pg.new_database(), startup_timeout=120):
                figures["PostgreSQL"] = measure(args.tasks)
        finally:
            pg.stop()
    print(f"{'server database':<32}{'untagged s/task':>17}{'tagged s/task':>15}{'tagged/untagged':>17}")
    for name, (plain, tagged) in figures.items():
        print(f"{name:<32}{plain:>17.3f}{tagged:>15.3f}{tagged / plain:>17.1f}")
    sqlite_tagged, pg_tagged = figures["SQLite (prefect_test_harness)"][1], figures["PostgreSQL"][1]
    print(f"tagged task run, SQLite / PostgreSQL: {sqlite_tagged / pg_tagged:.1f}x")


if __name__ == "__main__":
    main()
