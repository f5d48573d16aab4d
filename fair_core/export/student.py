"""The exported student: the trained adapter (or full model) copied with its tokenizer, the base model named
by its Hub id or absolute path, optionally merged full weights (peft `merge_and_unload`) in `merged/`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fair_core.refs import TRAIN_RECORD
from fair_core.students.models import ModelNotAvailableError, hub_id, resolve_model
from fair_core.training.card import ADAPTER_CONFIG, CARD_FILE, base_reference, name_base_model

MODEL_DIR = "model"
MERGED_DIR = "merged"
#: Left out of the copy: the training card (the export writes its own) and resume state.
_SKIPPED = {CARD_FILE, "checkpoints", "training_args.bin", "ranks"}


def is_adapter(folder: Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file()


def local_base(ref: str, data_dir: Path) -> Path | None:
    """The base model's folder on this machine (an alias is built under `<data_dir>/models` if needed);
    None for a Hub id that is not a local folder (from_pretrained then downloads it)."""
    try:
        path = resolve_model(ref, Path(data_dir) / "models")
    except ModelNotAvailableError:
        return None
    return path.resolve() if path.is_dir() else None


def copy_student(model_dir: Path, out: Path, ref: str, data_dir: Path) -> dict[str, Any]:
    """Copy the student to `out`; an adapter's `base_model_name_or_path` becomes the Hub id of `ref` when it
    has one, else the absolute path of the local base. Returns base_reference, hub_id, chat, record."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(model_dir, out, ignore=lambda _, names: [n for n in names if n in _SKIPPED])
    loaded_from = None
    if is_adapter(out):
        stored = json.loads((out / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
        if hub_id(ref) is None:
            absolute = Path(stored).expanduser() if stored else None
            loaded_from = (
                absolute if absolute is not None and absolute.is_absolute() else local_base(ref, data_dir)
            )
    reference = base_reference(ref, loaded_from)
    name_base_model(out, reference)
    template = out / "tokenizer_config.json"
    chat = (out / "chat_template.jinja").is_file() or (
        template.is_file() and "chat_template" in json.loads(template.read_text(encoding="utf-8"))
    )
    record_path = out / TRAIN_RECORD
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    return {"base_reference": reference, "hub_id": hub_id(ref), "chat": chat, "record": record}


def merge_student(model: Path, base: str | Path, out: Path) -> Path:
    """Full weights of base + adapter (`merge_and_unload`), saved with the tokenizer to `out`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fair_core.students.models import quiet_progress_bars

    with quiet_progress_bars():
        loaded = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
        merged = PeftModel.from_pretrained(loaded, str(model)).merge_and_unload()
        if out.exists():
            shutil.rmtree(out)
        merged.save_pretrained(out)
        AutoTokenizer.from_pretrained(str(model)).save_pretrained(out)
    return out
