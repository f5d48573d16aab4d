"""What training writes beside a student: the model card with Hub metadata and a load snippet naming the
Hub id (never the internal alias), and an adapter config whose base is a Hub id or an absolute path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fair_core.config import TrainingConfig
from fair_core.students.models import hub_id
from fair_core.training.card import base_reference, model_card, name_base_model, student_facts
from tests.core.export.test_cards import SMOLLM2, split_card


def test_hub_ids_of_student_references(tmp_path: Path) -> None:
    assert hub_id("smollm2-135m") == SMOLLM2
    assert hub_id("Qwen/Qwen2.5-1.5B-Instruct") == "Qwen/Qwen2.5-1.5B-Instruct"
    assert hub_id("tiny-random-llama") is None and hub_id(str(tmp_path)) is None


def test_the_base_is_named_by_hub_id_or_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "models" / "tiny").mkdir(parents=True)
    assert base_reference("smollm2-135m", "data/models/SmolLM2-135M-Instruct") == SMOLLM2
    assert base_reference("tiny-random-llama", "data/models/tiny") == str(tmp_path / "data/models/tiny")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "data/models/tiny"}))
    facts = student_facts(adapter, "tiny-random-llama", Path("data/models/tiny"), adapter, None)
    stored = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert stored == facts["base_reference"] and os.path.isabs(stored)
    assert facts["hub_id"] is None and facts["chat"] is False  # no chat template in this folder
    assert not name_base_model(tmp_path, SMOLLM2)  # a full model has no adapter config: nothing changed


def test_training_card_has_hub_metadata_and_a_hub_id_snippet() -> None:
    info = {"base_model": "smollm2-135m", "title": "FAIR student", "round": 0, "hub_id": SMOLLM2}
    info |= {"base_reference": SMOLLM2, "location": "/runs/x/round=0/student/model", "chat": True}
    meta, body = split_card(model_card({"steps": 2}, TrainingConfig(), info))
    assert meta == {
        "base_model": SMOLLM2,
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "tags": ["fair", "distillation", "committee-distillation", "peer-review", "lora"],
    }
    assert "AutoPeftModelForCausalLM.from_pretrained('/runs/x/round=0/student/model')" in body
    assert f"# the base model, {SMOLLM2}, is named in adapter_config.json" in body
    assert "from_pretrained('smollm2-135m')" not in body and "Q4_1 GGUF" in body
    full = split_card(
        model_card({}, TrainingConfig(method="full"), {"base_model": "/m", "base_reference": "/m"})
    )
    assert full[0]["library_name"] == "transformers" and "base_model" not in full[0]
