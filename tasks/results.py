"""Where a run's results are, said at the end of its parent flow run: the HTML report written, a Prefect
link artifact to it (file:// URL), and log lines naming the run folder, the report and the commands that
show the run (`fair view`, `fair report`)."""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact

from fair_core.store import RunStore
from fair_core.store.location import absolute
from tasks.logs import task_logger
from tasks.report import artifact_key


def report_path(data_dir: str | Path, run_id: str) -> Path:
    """The run's HTML report: `<data_dir>/runs/<run_id>/report.html` (absolute)."""
    from fair_core.report.html_page import REPORT_FILE

    return absolute(RunStore(data_dir, run_id).root / REPORT_FILE)


def where_lines(data_dir: str | Path, run_id: str) -> list[str]:
    """What the parent run's log ends with: the run folder, the report and the commands."""
    root = absolute(RunStore(data_dir, run_id).root)
    option = f" --data-dir {data_dir}" if str(data_dir) != "data" else ""
    return [
        f"results of run {run_id}: {root}",
        f"report: {report_path(data_dir, run_id)}",
        f"browse the questions, rationales and reviews: fair view {run_id}{option}",
        f"rebuild the report: fair report {run_id}{option}",
    ]


def log_where(logger: logging.Logger | logging.LoggerAdapter, data_dir: str | Path, run_id: str) -> None:
    """The `where_lines`, one log line each."""
    for line in where_lines(data_dir, run_id):
        logger.info("%s", line)


@task(name="publish-results", task_run_name="results of {run_id}", tags=["stage:report"])
def publish_results(data_dir: str, run_id: str) -> str:
    """Write the run's HTML report and a link artifact to it (key `fair-<run id>-report-link`); the flow
    then logs where everything is (`log_where`). A report that cannot be written is a warning, never a
    failed run. Returns its path."""
    logger = task_logger()
    path = report_path(data_dir, run_id)
    try:
        from fair_core.report.html_page import write_run_report

        path = write_run_report(data_dir, run_id, path)
    except Exception as err:  # a view of finished work: never a reason to fail the run
        logger.warning(
            "report of run %s not written (%s); write it with `fair report %s`", run_id, err, run_id
        )
    try:
        create_link_artifact(
            link=path.as_uri() if isinstance(path, Path) else str(path),
            link_text=f"FAIR report of {run_id}",
            key=artifact_key("fair", run_id, "report-link"),
            description=f"The HTML report of run {run_id} (open the file on the machine that ran it).",
        )
    except Exception as err:
        logger.warning("report link artifact not published: %s", err)
    return str(path)
