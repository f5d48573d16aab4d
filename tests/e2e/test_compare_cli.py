"""`fair compare RUN_ID...`: the table printed, the HTML written, labels from sweep.json, one-line errors."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from flows.compare_cli import register
from tests.core.report.compare_runs import build


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.callback()
    def _root() -> None:  # a group, so `compare` is a subcommand as in `fair`
        pass

    register(app)
    return app


def _runs(tmp_path: Path) -> None:
    build(tmp_path, "r-fair", ["1100110000"], calls=[[("gpt", "online", 0.10, 0.10)]], samples=[(3, 2)])
    sweep = {"label": "no feedback", "seed": 0, "meta": {"training.use_feedback": False}}
    build(tmp_path, "r-nofb", ["1111110001"], calls=[[("gpt", "cache", 0.0, 0.10)]], sweep=sweep)


def test_fair_compare_prints_the_table_and_writes_the_page(tmp_path: Path) -> None:
    _runs(tmp_path)
    out = tmp_path / "cmp" / "c.html"
    args = ["compare", "r-fair", "r-nofb", "--data-dir", str(tmp_path), "--out", str(out)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "reference: r-fair" in text and "no feedback" in text  # the sweep's label
    assert "40.0% (4/10, 95% CI 16.8-68.7%)" in text and "70.0% (7/10, 95% CI 39.7-89.2%)" in text
    assert "+30.0 pts" in text and "3 / 0" in text and "0.25" in text  # 3 fixed, 0 broken: p = 2/8
    assert f"Report: {out}" in " ".join(text.split())
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    default = CliRunner().invoke(
        _app(), ["compare", "r-fair", "r-nofb", "--data-dir", str(tmp_path), "--reference", "r-nofb"]
    )
    assert default.exit_code == 0, default.output
    assert "reference: no feedback" in default.stdout and "-30.0 pts" in default.stdout
    assert (tmp_path / "compare.html").is_file()


def test_fair_compare_errors_are_one_line(tmp_path: Path) -> None:
    _runs(tmp_path)
    build(tmp_path, "r-running", ["1000000000"], finished=0)
    cases = {
        ("r-fair", "nope"): "run 'nope' not found",
        ("r-fair", "r-running"): "run 'r-running' has no finished round",
        ("r-fair", "r-nofb", "--reference", "r-x"): "--reference r-x: not one of the compared runs",
    }
    for args, message in cases.items():
        result = CliRunner().invoke(_app(), ["compare", *args, "--data-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        output = " ".join(result.output.split())  # rich wraps long lines
        assert output.startswith("error: ") and message in output and "Traceback" not in output
    assert not (tmp_path / "compare.html").exists()
