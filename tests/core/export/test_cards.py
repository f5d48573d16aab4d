"""The export's cards: their YAML metadata parses and holds what the Hub reads; the texts state the
committee, acceptance, prompts, config and accuracy; the adapter names its base by Hub id; no secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fair_core.export import Names, export_run
from fair_core.export.source import REDACTED, public_config
from tests.core.export.run_store import RUN_ID, build_run

SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """(metadata, body) of a card: the YAML between the first two `---` lines, and the rest."""
    assert text.startswith("---\n")
    block, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(block), body


@pytest.fixture()
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-written-1234")
    monkeypatch.setenv("DEEPINFRA_API_KEY", "di-test-never-written-5678")
    build_run(tmp_path / "data")
    names = Names(model_repo="me/fair-student", dataset_repo="me/fair-student-data")
    export_run(tmp_path / "data", RUN_ID, tmp_path / "out", names=names)
    return tmp_path / "out"


def test_dataset_card_metadata_and_text(exported: Path) -> None:
    meta, body = split_card((exported / "README.md").read_text(encoding="utf-8"))
    assert meta["license"] == "other" and meta["task_categories"] == ["text-generation"]
    assert {"fair", "distillation"} <= set(meta["tags"]) and meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}
    ]
    for fact in (
        "gpt-4o-mini",
        "gemini-2.5-flash",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "api.deepinfra.com",
    ):
        assert fact in body  # the committee: teachers, providers, models, endpoints
    assert "| 0 | gpt | 100.0% (1/1" in body and "| 0 | gem | 0.0% (0/1" in body  # acceptance with n
    assert "| all | mix | 100.0% (1/1" in body
    assert "### `feedback` (built-in)" in body and "### `student_numeric` (built-in)" in body  # prompts
    assert f"run id: `{RUN_ID}`" in body and "code version (fair-distill)" in body
    assert 'load_dataset("me/fair-student-data", split="train")' in body
    config = yaml.safe_load(body.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert config["run"]["run_id"] == RUN_ID
    assert config["teachers"][2]["api_key_env"] == "DEEPINFRA_API_KEY"  # keys are named, never stored
    assert yaml.safe_load((exported / "fair_config.yaml").read_text()) == config


def test_model_card_metadata_load_snippet_and_adapter_config(exported: Path) -> None:
    meta, body = split_card((exported / "model" / "README.md").read_text(encoding="utf-8"))
    assert meta["base_model"] == SMOLLM2 and meta["library_name"] == "peft"
    assert meta["datasets"] == ["me/fair-student-data"] and meta["pipeline_tag"] == "text-generation"
    assert {"fair", "distillation", "lora"} <= set(meta["tags"])
    (index,) = meta["model-index"]
    assert index["name"] == "fair-student"
    metrics = [r["metrics"][0] for r in index["results"]]
    assert [m["value"] for m in metrics] == [0.5, 0.75]  # after round 0, after round 1
    assert metrics[1]["args"]["n"] == 4 and metrics[1]["args"]["correct"] == 3
    low, high = metrics[1]["args"]["ci95_wilson"]
    assert 0.2 < low < 0.75 < high < 1.0
    assert "AutoPeftModelForCausalLM.from_pretrained('me/fair-student')" in body
    assert "from_pretrained('smollm2-135m')" not in body and "`student.model: smollm2-135m`" in body
    assert (
        "| after round 1 | 75.0% (3/4, 95% CI" in body and "| base student (before round 0) | 25.0%" in body
    )
    adapter = json.loads((exported / "model" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == SMOLLM2
    assert (exported / "model" / "adapter_model.safetensors").read_bytes() == b"\0weights\0" * 100


def test_no_secret_is_written(exported: Path) -> None:
    for path in exported.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"never-written" not in data, path


def test_public_config_redacts_secret_values_and_url_credentials() -> None:
    data = {
        "teachers": [{"api_key_env": "OPENAI_API_KEY", "api_key_secret": "my-block", "api_key": "sk-live"}],
        "hub": {"token": "hf_abc", "max_tokens": 512, "base_url": "https://user:pw@host/v1"},
    }
    clean = public_config(data)
    assert clean["teachers"][0] == {
        "api_key_env": "OPENAI_API_KEY",
        "api_key_secret": "my-block",
        "api_key": REDACTED,
    }
    assert clean["hub"] == {"token": REDACTED, "max_tokens": 512, "base_url": "https://host/v1"}
