"""`fair export` end to end: a real tiny run (`fair run`, relative data dir, the `tiny-random-llama` alias),
its trained adapter loaded from another directory, then the export (with merged weights) loaded back with
`datasets` and `peft` from another directory and pushed to a local Hub (tests/simulators/hub_wire.py)
through huggingface_hub's LFS path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import FAIR, write_config
from tests.simulators.hub_wire import HubServer
from tests.tiny import tiny_dataset

pytestmark = pytest.mark.slow
TOKEN = "hf_e2e_test_token_abcdef"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, cli_env: dict[str, str]) -> tuple[Path, str]:
    """(working folder, run id) of a finished one-round tiny run started there with `data_dir: data`."""
    root = tmp_path_factory.mktemp("export-run")
    training = {"learning_rate": 1e-3, "epochs": 1, "batch_size": 4, "grad_accum": 1, "max_length": 512}
    config = {
        "run": {"name": "export-e2e", "rounds": 1, "data_dir": "data"},
        "dataset": tiny_dataset(),
        "student": {"model": "tiny-random-llama", "max_new_tokens": 8},
        "teachers": [{"name": n, "model": n} for n in ("gpt", "gemini", "mixtral")],
        "training": training,
        "simulator": {"enabled": True},
    }
    write_config(root / "tiny.yaml", config)
    done = subprocess.run(
        [FAIR, "run", "--config", "tiny.yaml"],
        cwd=root,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_id,) = [p.name for p in (root / "data" / "runs").iterdir()]
    return root, run_id


def _generate(model, folder: Path) -> str:  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    inputs = tokenizer("What is 2 + 3?", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]
    return tokenizer.decode(output[0])


def test_the_trained_adapter_loads_from_another_directory(
    finished_run: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft import AutoPeftModelForCausalLM

    root, run_id = finished_run
    adapter = root / "data" / "runs" / run_id / "round=0" / "student" / "model"
    base = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base == str((root / "data" / "models" / "tiny-random-llama").resolve())  # absolute, not data/...
    card = (adapter / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: peft\n") and f"from_pretrained('{adapter.resolve()}')" in card
    monkeypatch.chdir(tmp_path)
    _generate(AutoPeftModelForCausalLM.from_pretrained(str(adapter)), adapter)


def test_export_loads_back_elsewhere_and_pushes_to_the_hub(
    finished_run: tuple[Path, str], cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    root, run_id = finished_run
    out = tmp_path / "export"
    with HubServer(TOKEN) as hub:
        env = dict(cli_env, HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HUB_DISABLE_XET="1")
        args = [FAIR, "export", run_id, "--data-dir", "data", "--out", str(out), "--merge"]
        done = subprocess.run(
            [*args, "--push-to-hub", "me/tiny-fair"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert TOKEN not in done.stdout + done.stderr
        assert (
            "pushed dataset me/tiny-fair-data" in done.stdout and "pushed model me/tiny-fair" in done.stdout
        )
        assert hub.unknown == []
        data, model = hub.repo("dataset", "me/tiny-fair-data"), hub.repo("model", "me/tiny-fair")

    local = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert data.files == {k: v for k, v in local.items() if not k.startswith(("model/", ".fair-export"))}
    assert model.files == {k[len("model/") :]: v for k, v in local.items() if k.startswith("model/")}
    assert "data/train-00000-of-00001.parquet" in data.lfs_paths  # uploaded through the LFS batch API
    assert {"adapter_model.safetensors", "merged/model.safetensors"} <= model.lfs_paths

    monkeypatch.chdir(tmp_path.parent)  # another directory than the run's
    train = datasets.load_dataset(str(out), split="train")
    samples = root / "data" / "runs" / run_id / "round=0" / "training_samples.parquet"
    import pyarrow.parquet as pq

    assert train.num_rows == pq.read_metadata(samples).num_rows > 0
    assert set(train["task"]) <= {"rationale", "feedback"} and all(train["question_id"])
    adapter = AutoPeftModelForCausalLM.from_pretrained(str(out / "model"))
    _generate(adapter, out / "model")
    merged = AutoModelForCausalLM.from_pretrained(str(out / "model" / "merged"))
    _generate(merged, out / "model" / "merged")
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(adapter(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-4)
    meta = (out / "model" / "README.md").read_text().split("\n---\n", 1)[0]
    assert (
        "library_name: peft" in meta and "datasets:\n- me/tiny-fair-data" in meta and "model-index:" in meta
    )
    assert os.path.isabs(
        json.loads((out / "model" / "adapter_config.json").read_text())["base_model_name_or_path"]
    )
