"""`fair report RUN_ID`: the HTML report written beside the run (or to --out), its path printed; errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.core.report_store import RUN_ID, build_run


def test_fair_report_writes_html_and_prints_its_path(tmp_path: Path) -> None:
    run = build_run(tmp_path)
    result = CliRunner().invoke(app, ["report", RUN_ID, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = run.root / "report.html"
    assert result.stdout.strip() == str(path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page

    out = tmp_path / "elsewhere" / "r.html"
    result = CliRunner().invoke(app, ["report", RUN_ID, "--data-dir", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0 and result.stdout.strip() == str(out) and out.is_file()


def test_fair_report_of_a_missing_run_names_the_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "no-such-run", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich wraps long lines
    assert "run 'no-such-run' not found" in message and "does not exist" in message
    assert not (tmp_path / "runs").exists()
