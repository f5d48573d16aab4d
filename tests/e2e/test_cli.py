"""The `fair` command end to end: user errors (one line, exit 2, before any work), the run lock, a run
killed during round 2 and resumed, the reference import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fair_core.config import load_config
from flows.cli import app
from tests.e2e.helpers import FAIR, fair, tiny_config, write_config

KEYS = ("OPENAI_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY", "DEEPINFRA_API_KEY")


def test_missing_key_is_one_clear_sentence(cli_env: dict[str, str]) -> None:
    result = fair(["run", "--config", "paper-svamp"], cli_env, timeout=120)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert (
        "error: teacher 'gpt' (openai, gpt-3.5-turbo) needs an API key: set the environment variable"
        in message
    )
    assert "OPENAI_API_KEY" in message and "Traceback" not in result.stderr
    # every missing key at once, in one line: one fix covers them all
    assert "GEMINI_API_KEY" in message and "DEEPINFRA_API_KEY" in message
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_names_the_field(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.yaml", {"training": {"alpha": 3}, "teachers": []})
    result = fair(["run", "--config", str(bad)], cli_env, timeout=120)
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "training.alpha" in result.stderr


def _tiny(tmp_path: Path, model: Path) -> Path:
    training = {"learning_rate": 1e-3, "epochs": 4, "batch_size": 2, "grad_accum": 1, "max_length": 512}
    return tiny_config(
        tmp_path / "tiny.yaml",
        "tiny-e2e",
        tmp_path / "data",
        model,
        rounds=2,
        training={**training, "save_steps": 2},
        simulator={"enabled": True, "latency_ms": 20},
    )


@pytest.mark.slow
def test_killed_during_round_two_resumes_without_repeating_round_one(
    cli_env: dict[str, str], tmp_path: Path, tiny_model_dir: Path
) -> None:
    config_path = _tiny(tmp_path, tiny_model_dir)
    config = load_config(config_path)
    run_dir = tmp_path / "data" / "runs" / config.run_id()
    marker = run_dir / "round=1" / "mistakes.parquet"
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(
        [FAIR, "run", "--config", str(config_path)],
        env=cli_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "round 2 never started"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its Prefect server, mid round 2
    process.wait()
    assert not (run_dir / "round=1" / "evaluation.parquet").exists()
    round_one = {
        p: p.stat().st_mtime_ns
        for p in (run_dir / "round=0").rglob("*")
        if p.is_file() and p.name != "manifest.json" and ".lock" not in p.name
    }
    assert any(p.name == "adapter_model.safetensors" for p in round_one)

    # `fair resume` finds the run's stored config by its id
    result = fair(["resume", config.run_id(), "--data-dir", str(tmp_path / "data")], cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in round_one} == round_one, "round 1 was recomputed"
    assert (run_dir / "round=1" / "evaluation.parquet").exists()
    assert "round 1" in result.stderr and "Requests received by the teacher simulator" in result.stderr
    assert "Finished in state Cached" in result.stderr


@pytest.mark.slow
def test_import_reference_reproduces_the_acceptances(
    cli_env: dict[str, str], tmp_path: Path, shared_datasets: Path
) -> None:
    result = fair(
        ["import-reference", str(shared_datasets / "reference_round0"), "--data-dir", str(tmp_path)],
        cli_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stderr.split())
    assert "3 accepted: 167, 2 accepted: 127, 1 accepted: 71, 0 accepted: 22" in out
    assert "gemini 221/221" in out and "gpt 286/286" in out and "mixtral 319/319" in out
    assert (tmp_path / "runs" / "reference-svamp" / "round=0" / "acceptance.parquet").is_file()


def _servers_started_by(pid: int) -> list[int]:
    """Children of `pid` running a Prefect server (ours or Prefect's ephemeral one)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and (b"prefect.server" in cmdline or b"server\0start" in cmdline):
            found.append(int(proc.name))
    return found


#: Prefect servers started by the last `invoke` (the session's test harness server is not one of them).
_started_servers: list[int] = []


def invoke(args: list[str]) -> tuple[int, str]:
    """`fair ARGS` in this process (typer's runner); the exit code and what it printed. The servers it
    left running are kept in `_started_servers`."""
    before = set(_servers_started_by(os.getpid()))
    result = CliRunner().invoke(app, args)
    _started_servers[:] = sorted(set(_servers_started_by(os.getpid())) - before)
    return result.exit_code, result.output


def assert_one_error_line(code: int, output: str, *parts: str) -> None:
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    for part in parts:
        assert part in lines[0], output
    assert not _started_servers, "a Prefect server was started for a bad input"


@pytest.mark.parametrize(
    ("sets", "parts"),
    [
        (["teachers.5.name=x"], ["teachers.5 is not an item of teachers (indexes: 0-2)"]),
        (["teachers.x.name=x"], ["teachers.x is not an item of teachers"]),
        (["teachers.-1.name=x"], ["teachers.-1 is not an item of teachers"]),
        (["run.rounds.x=1"], ["run.rounds is a value (2), not a section with 'x'"]),
        (["run.rounds=[1"], ["'run.rounds=[1': the value is not valid YAML"]),
        (["review.threshold=7"], ["review.threshold: 7 cannot work: scores are 1-5"]),
        (["review.threshold=-2"], ["review.threshold: -2 cannot work"]),
        (["review.min_valid_scores=5"], ["review.min_valid_scores: 5 can never be reached with 3 teachers"]),
        (["run.name=../../etc"], ["run.name: a run name or id '../../etc' is not a safe folder name"]),
        (["dataset.gym.task=no_such_task"], ["dataset.gym.task 'no_such_task': no such reasoning-gym task"]),
        (["dataset.gym.options={bogus: 1}"], ["dataset.gym.options: unknown option(s) 'bogus'"]),
        (["prompts.template_dir=/nonexistent/prompts"], ["prompts.template_dir '/nonexistent/prompts'"]),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_a_bad_setting_is_one_error_line_before_any_work(
    tmp_path: Path, sets: list[str], parts: list[str]
) -> None:
    args = ["run", "--config", "demo", "--data-dir", str(tmp_path / "data")]
    for item in sets:
        args += ["--set", item]
    assert_one_error_line(*invoke(args), *parts)
    assert not (tmp_path / "data" / "runs").exists()


def test_missing_dataset_files_are_one_error_line(tmp_path: Path) -> None:
    data = [
        "--data-dir",
        str(tmp_path / "data"),
        "--set",
        "dataset.name=svamp",
        "--set",
        "dataset.source=local",
    ]
    missing = ["--set", f"dataset.path={tmp_path / 'nope'}"]
    code, output = invoke(["run", "--config", "demo", *data, *missing])
    assert_one_error_line(code, output, "nope")
    empty = tmp_path / "SVAMP.json"
    empty.write_text("")
    code, output = invoke(["run", "--config", "demo", *data, "--set", f"dataset.path={empty}"])
    assert_one_error_line(code, output, "empty")


def test_an_unwritable_data_dir_is_one_error_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert_one_error_line(
        *invoke(["run", "--config", "demo", "--data-dir", str(a_file)]),
        "is a file, not a folder",
        "--data-dir",
    )
    assert_one_error_line(
        *invoke(["run", "--config", "demo", "--data-dir", str(a_file / "data")]),
        "is not a writable folder (Not a directory)",
    )
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "read-only"
        locked.mkdir(mode=0o500)
        assert_one_error_line(
            *invoke(["run", "--config", "demo", "--data-dir", str(locked)]), "(Permission denied)"
        )


def test_missing_sdks_and_keys_are_all_named_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    teachers = [
        {"name": "gpt", "model": "gpt-4o-mini"},
        {"name": "gem", "provider": "gemini", "model": "gemini-2.5-flash"},
        {"name": "mis", "provider": "mistral", "model": "mistral-small-latest"},
    ]
    config = write_config(
        tmp_path / "real.yaml",
        {"run": {"data_dir": str(tmp_path / "data")}, "dataset": {"name": "gsm8k"}, "teachers": teachers},
    )
    code, output = invoke(["run", "--config", str(config)])
    assert_one_error_line(
        code,
        output,
        "teacher 'gpt' (openai, gpt-4o-mini) needs an API key: set the environment variable OPENAI_API_KEY",
        "teacher 'gem' (gemini, gemini-2.5-flash) needs an API key: set the environment variable GEMINI",
        "MISTRAL_API_KEY",
    )
    # an SDK extra that is not installed (the installed environment is the boundary doubled here)
    monkeypatch.setitem(sys.modules, "google.genai", None)
    monkeypatch.setitem(sys.modules, "mistralai", None)
    code, output = invoke(["run", "--config", str(config)])
    assert_one_error_line(
        code,
        output,
        "teacher 'gem' (gemini) needs the google.genai SDK: pip install 'fair-distill[gemini]'",
        "teacher 'mis' (mistral) needs the mistralai SDK: pip install 'fair-distill[mistral]'",
    )


def test_resume_refuses_a_run_id_outside_the_data_dir(tmp_path: Path) -> None:
    code, output = invoke(["resume", "../../etc", "--data-dir", str(tmp_path)])
    assert_one_error_line(code, output, "RUN_ID '../../etc' is not a safe folder name")


HOLD = """
import sys, time
from fair_core.locks import run_lock
with run_lock(sys.argv[1], sys.argv[2], command="fair demo"):
    print("held", flush=True)
    time.sleep(300)
"""


def test_a_second_run_of_the_same_run_is_refused_naming_the_holder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_id = load_config("demo", [f"run.data_dir={data_dir}"]).run_id()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir), run_id], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, output = invoke(["demo", "--data-dir", str(data_dir)])
        assert code == 2, output
        error = [line for line in output.splitlines() if line.startswith("error: ")]
        assert error and f"run {run_id} is already running (pid {holder.pid} on " in error[0], output
        assert "(fair demo)" in error[0] and "--wait" in error[0]
        assert "Traceback" not in output and not _started_servers
        assert not (data_dir / "runs" / run_id / "round=0").exists()  # nothing ran
    finally:
        holder.kill()
        holder.wait()


def test_a_damaged_reply_cache_is_one_error_line_before_any_work(tmp_path: Path) -> None:
    cache = tmp_path / "data" / "cache" / "teacher_responses.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a database " * 500)
    code, output = invoke(["demo", "--data-dir", str(tmp_path / "data")])
    assert_one_error_line(code, output, f"reply cache {cache}", "is damaged")
    assert not (tmp_path / "data" / "runs").exists()


def test_two_runs_of_one_config_at_once_the_second_is_refused(
    cli_env: dict[str, str], tmp_path: Path, tiny_model_dir: Path
) -> None:
    """`fair run` twice on one data dir: the second names the first (pid) and exits 2; once the first is
    killed (SIGKILL), its lock is gone with it."""
    from fair_core.locks import lock_path, read_holder, run_lock

    config_path = _tiny(tmp_path, tiny_model_dir)
    config = load_config(config_path)
    lock = lock_path(tmp_path / "data", config.run_id())
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(
        [FAIR, "run", "--config", str(config_path)],
        env=cli_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while read_holder(lock).get("pid") != first.pid:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first run never took its lock"
            time.sleep(0.1)
        second = fair(["run", "--config", str(config_path)], cli_env, timeout=120)
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"is already running (pid {first.pid} on " in " ".join(second.stderr.split())
        assert "Traceback" not in second.stderr and "temporary server" not in second.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        log.close()
    with run_lock(tmp_path / "data", config.run_id()):  # not stuck after the kill
        pass
