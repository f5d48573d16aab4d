"""The push through huggingface_hub to a local Hub (tests/simulators/hub_wire.py): the files arrive with
their content; a refused token, a missing token and an unreachable Hub are one line naming the repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fair_core.export.hub import HubPushError, push_folder, token_from
from flows.cli import app
from tests.core.export.run_store import RUN_ID, build_run
from tests.simulators.hub_wire import HubServer

TOKEN = "hf_test_token_0123456789"


def _files(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.relative_to(folder).as_posix().startswith(skip)
    }


def test_fair_export_pushes_dataset_and_student(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_run(tmp_path / "data")
    out = tmp_path / "out"
    # hf_xet is installed: every file is answered "regular" (inline in the commit; Xet is not emulated);
    # the LFS batch path is the e2e test's (HF_HUB_DISABLE_XET=1)
    with HubServer(TOKEN, lfs_suffixes=()) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        args = ["export", RUN_ID, "--data-dir", str(tmp_path / "data"), "--out", str(out)]
        result = CliRunner().invoke(app, [*args, "--push-to-hub", "me/student", "--private"])
        assert result.exit_code == 0, result.output
        assert TOKEN not in result.output
        assert (
            "pushed dataset me/student-data" in result.output and "pushed model me/student" in result.output
        )
        data, model = hub.repo("dataset", "me/student-data"), hub.repo("model", "me/student")
        assert data.private and model.private
        assert data.files == _files(out, ("model/", ".fair-export"))
        assert model.files == _files(out / "model")
        assert "datasets:\n- me/student-data" in model.files["README.md"].decode()
        assert hub.unknown == []


def test_a_refused_or_missing_token_and_an_unreachable_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "README.md").write_text("hello")
    with HubServer(TOKEN) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(HubPushError) as refused:
            push_folder(tmp_path / "f", "me/x", "model", "hf_wrong_token")
    assert (
        str(refused.value) == f"push to the Hub: model repo me/x at {hub.url}: 401 Unauthorized: the token "
        "is missing, wrong or expired"
    )
    assert "hf_wrong_token" not in str(refused.value)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)  # the server is gone: nothing listens there now
    with pytest.raises(HubPushError, match=r"model repo me/x at http://127\.0\.0\.1:\d+: unreachable"):
        push_folder(tmp_path / "f", "me/x", "model", TOKEN)
    monkeypatch.delenv("MY_TOKEN", raising=False)
    with pytest.raises(HubPushError, match="needs a write token in the environment variable MY_TOKEN"):
        token_from("MY_TOKEN")


def test_cli_push_errors_are_one_line_before_or_after_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_run(tmp_path / "data")
    args = ["export", RUN_ID, "--data-dir", str(tmp_path / "data"), "--push-to-hub", "me/s"]
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "HF_TOKEN" in result.output and not (tmp_path / "a").exists()
    monkeypatch.setenv("HF_TOKEN", "hf_not_accepted_token")
    with HubServer(TOKEN) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "dataset repo me/s-data" in lines[0] and "401 Unauthorized" in lines[0]
    assert "Traceback" not in result.output and "hf_not_accepted_token" not in result.output
    assert (tmp_path / "b" / "README.md").is_file()  # the export itself was written
