"""Slow: `fair demo` with the real SmolLM2-135M student, twice; the second run sends nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.helpers import fair, link_models

SMALL = ["--set", "dataset.gym.train_size=16", "--set", "dataset.gym.test_size=8"]
SMALL += ["--set", "training.epochs=1"]
#: Tasks that run on every attempt by design: the model alias lookup and the summaries (artifacts).
ALWAYS_RUN = {"resolve-student", "summarize-round", "summarize-run"}


@pytest.mark.slow
def test_demo_runs_two_rounds_then_resumes_from_the_caches(
    cli_env: dict[str, str], tmp_path: Path, smollm2_models_dir: Path
) -> None:
    data = tmp_path / "data"
    link_models(smollm2_models_dir, data)
    args = ["demo", "--data-dir", str(data), *SMALL]
    first = fair(args, cli_env)
    assert first.returncode == 0, first.stderr[-4000:]
    out = first.stderr
    labels = ("round 0", "round 1", "student accuracy (train)", "rationales accepted", "feedback samples")
    assert all(label in out for label in labels)
    sent = int(re.search(r"teacher simulator in this run: (\d+)", out).group(1))
    assert sent > 0
    run = next((data / "runs").glob("demo-*"))
    for k in (0, 1):
        assert (run / f"round={k}" / "manifest.json").is_file()
        assert (run / f"round={k}" / "evaluation.parquet").is_file()
        assert (run / f"round={k}" / "student" / "model" / "adapter_model.safetensors").is_file()

    second = fair(args, cli_env)
    assert second.returncode == 0, second.stderr[-4000:]
    assert "teacher simulator in this run: 0" in second.stderr
    recomputed = set(
        re.findall(r"Task run '([a-z-]+)-[0-9a-f]+' - Finished in state Completed\(\)", second.stderr)
    )
    assert recomputed <= ALWAYS_RUN, f"finished stages were recomputed: {recomputed - ALWAYS_RUN}"
    assert "Finished in state Cached" in second.stderr
