"""The data viewer on a GSM8K-sized run: `python bench/view_bench.py [--share] [--keep DIR]`.

Synthesizes a finished two-round run with RunStore (real Parquet, zstd) in a temporary folder: 7,473 training
and 1,319 test questions, three teachers, every mistake answered by each teacher (feedback and rationale) and
reviewed by the other two (about 90,000 `teacher_calls` rows), acceptance by the real `select_rationales`.
Then, in one process and side by side, the time of:

- reading every table of every round fully (`RoundStore.read`, pyarrow) and as rows (`.to_pylist()`, what a
  page that inlines everything needs): the baselines;
- the viewer's first page on a fresh `RunView` (once per `fair view` process, before the URL is printed:
  reads only the id, answer and flag columns and builds the question index), a filtered page, the first
  text search on a fresh view (the rationales' text column read) and a later one, a question's detail on a
  fresh view (the columns a detail shows, read once) and the next question's detail (cached columns).

Each figure is the median of 5 repeats (the OS file cache is warm for all of them alike), printed with its
ratio to the full read, and the JSON sizes of a page and a detail against the tables' Parquet bytes.
`--share` also times writing the static share folder (every question's detail as script chunks).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fair_core.store import RunStore  # noqa: E402
from fair_core.view import Filters, RunView  # noqa: E402
from tests.core.view.run_builder import build_run  # noqa: E402

RUN = "gsm8k-sized"
REPEATS = 5


def timed(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Median wall time of `fn` over `repeats` calls, and its last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def read_all(run: RunStore, rows: bool) -> int:
    """Read every table of every round fully; returns the rows read."""
    from fair_core.store.schemas import TABLES

    total = 0
    for k in run.rounds():
        store = run.round(k)
        for name in TABLES:
            if store.exists(name):
                table = store.read(name)
                total += len(table.to_pylist()) if rows else table.num_rows
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", action="store_true", help="also time writing the static share folder")
    parser.add_argument("--keep", type=Path, help="build the run in DIR and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="view-bench-"))
    try:
        start = time.perf_counter()
        run = build_run(work, RUN, n_train=7473, n_test=1319, accuracy=(0.33, 0.66, 0.75), words=80)
        built = time.perf_counter() - start
        calls = sum(run.round(k).read("teacher_calls").num_rows for k in run.rounds())
        parquet = sum(p.stat().st_size for p in run.root.rglob("*.parquet"))
        print(
            f"run: 7,473 train + 1,319 test questions, {len(run.rounds())} rounds, {calls:,} teacher calls, "
            f"{parquet / 1e6:.1f} MB of Parquet (built in {built:.0f} s)"
        )

        full, n_rows = timed(lambda: read_all(run, rows=False))
        full_rows, _ = timed(lambda: read_all(run, rows=True), repeats=3)
        page_cold, page = timed(lambda: RunView(work, RUN).page(Filters()))
        view = RunView(work, RUN)
        view.index()
        filtered, f_page = timed(lambda: view.page(Filters(accepted=True, teacher="gpt", round=0)))

        def first_search() -> dict[str, Any]:
            fresh = RunView(work, RUN)
            fresh.index()
            begin = time.perf_counter()
            result = fresh.page(Filters(search="apples"))  # the rationales' text column read here
            first_search.spent = time.perf_counter() - begin  # type: ignore[attr-defined]
            return result

        searches = []
        for _ in range(REPEATS):
            first_search()
            searches.append(first_search.spent)  # type: ignore[attr-defined]
        search_cold = statistics.median(searches)
        view.page(Filters(search="apples"))
        searched, s_page = timed(lambda: view.page(Filters(search="total then step")))
        ids = [r["id"] for r in view.matching(Filters(accepted=True))]

        def fresh_detail() -> dict[str, Any]:
            fresh = RunView(work, RUN)
            fresh.index()
            begin = time.perf_counter()
            detail = fresh.detail(ids[0])
            fresh_detail.spent = time.perf_counter() - begin  # type: ignore[attr-defined]
            return detail

        details = []
        for _ in range(REPEATS):
            fresh_detail()
            details.append(fresh_detail.spent)  # type: ignore[attr-defined]
        detail_cold = statistics.median(details)
        view.detail(ids[0])
        positions = iter(range(1, len(ids)))
        detail_warm, detail = timed(lambda: view.detail(ids[next(positions)]))

        rows = [
            ("read all tables fully (pyarrow)", full, f"{n_rows:,} rows"),
            ("read all tables as rows (to_pylist)", full_rows, "what inlining everything needs"),
            ("first page, fresh view (index built)", page_cold, f"{page['total']:,} questions"),
            ("filtered page (accepted, gpt, round 0)", filtered, f"{f_page['total']:,} match"),
            ("first text search, fresh view", search_cold, "rationale text read"),
            ("text search page (rationales)", searched, f"{s_page['total']:,} match"),
            ("detail, fresh view (its columns read)", detail_cold, f"{len(json.dumps(detail)):,} bytes JSON"),
            ("detail, next question (cached)", detail_warm, ""),
        ]
        print(f"\n{'query':42} {'seconds':>9} {'x full read':>11}  note")
        for label, seconds, note in rows:
            print(f"{label:42} {seconds:9.4f} {seconds / full:11.3f}  {note}")
        page_bytes = len(json.dumps(page))
        print(
            f"\npage JSON {page_bytes / 1e3:.0f} kB, detail JSON {len(json.dumps(detail)) / 1e3:.1f} kB, "
            f"against {parquet / 1e6:.1f} MB of Parquet ({parquet / page_bytes:.0f}x a page)"
        )
        if args.share:
            start = time.perf_counter()
            from fair_core.view.static import write_share

            out = work / "share"
            write_share(RunView(work, RUN), out)
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(
                f"share folder: {time.perf_counter() - start:.1f} s, {size / 1e6:.1f} MB, "
                f"{len(list((out / 'data').glob('detail-*.js')))} detail chunks"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
