"""The fidelity table: each place where the paper code's procedure and our recommendation differ, as a config
switch with its value in the `paper-*` presets and in the `fair-*` presets (tests/core/test_fidelity.py
checks both preset families against it; the README's fidelity table is the same rows in words)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The datasets that have both a `paper-<name>` and a `fair-<name>` preset.
DATASETS = ("gsm8k", "svamp", "strategyqa", "logiqa")


class PerDataset(dict[str, Any]):
    """A switch value that depends on the dataset."""


@dataclass(frozen=True)
class Switch:
    """One decision: the dotted config key, the paper code's value and ours (`PerDataset`: by dataset)."""

    key: str
    paper: Any
    fair: Any
    point: str
    why: str

    def value(self, family: str, dataset: str) -> Any:
        value = self.paper if family == "paper" else self.fair
        return value[dataset] if isinstance(value, PerDataset) else value


#: Per dataset: the paper code's teachers see the gold solution (GSM8K) or the facts (StrategyQA).
_PAPER_HINT = PerDataset(
    {"gsm8k": "solution", "svamp": "answer", "strategyqa": "solution", "logiqa": "answer"}
)
_BLOCK_NONE = {
    c: "BLOCK_NONE"
    for c in (
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    )
}

SWITCHES: tuple[Switch, ...] = (
    Switch(
        "evaluation.prompt",
        "training",
        "training",
        "1 evaluation prompt",
        "test the student on the layout it was trained on; the bare prompt measures transfer instead",
    ),
    Switch(
        "student.chat_template",
        False,
        None,
        "2 chat template",
        "a chat model answers better inside its own template (applied alike in inference, training, "
        "evaluation)",
    ),
    Switch(
        "training.batch_unit",
        "pair",
        "pair",
        "3 optimizer steps",
        "each batch holds both tasks of its questions, so alpha holds in every batch and the step count "
        "is the paper's",
    ),
    Switch(
        "training.lr_scheduler",
        "constant",
        "linear",
        "4 schedule",
        "a decaying rate settles the last epochs; the paper code's warm-up has no effect",
    ),
    Switch("training.warmup_ratio", 0.0, 0.03, "4 schedule", "a short warm-up protects the first steps"),
    Switch(
        "training.weight_decay",
        0.01,
        0.0,
        "4 regularisation",
        "nothing shows it helps; with LoRA it only pulls the adapter back to the base",
    ),
    Switch(
        "training.max_grad_norm",
        0.3,
        1.0,
        "4 regularisation",
        "0.3 (a QLoRA recipe) clips most early steps: a hidden lower learning rate",
    ),
    Switch(
        "training.optimizer",
        "paged_adamw_32bit",
        "adamw_torch",
        "4 optimizer",
        "the same AdamW update; paging only saves GPU memory and needs bitsandbytes and CUDA",
    ),
    Switch(
        "prompts.teacher_hint",
        _PAPER_HINT,
        "solution",
        "5 teacher hints",
        "teachers can check steps against a worked solution, not only the final answer",
    ),
    Switch(
        "training.feedback_without_rationale",
        "drop",
        "keep",
        "6 questions without a rationale",
        "the feedback on a mistake is a valid sample even when no rationale was accepted",
    ),
    Switch(
        "training.single_teacher_review",
        "skip",
        "keep",
        "7 single-teacher ablation",
        "a one-teacher ablation should still learn only peer-accepted rationales",
    ),
    Switch(
        "training.loss_reduction",
        "token",
        "sample",
        "8 loss reduction",
        "each teacher text counts once, so verbose completions do not dominate",
    ),
    Switch(
        "teachers.gemini.safety_settings",
        _BLOCK_NONE,
        _BLOCK_NONE,
        "9 Gemini safety",
        "the paper's setting; a blocked reply is a lost rationale",
    ),
    Switch(
        "teachers.gemini.max_tokens",
        2048,
        2048,
        "9 Gemini output cap",
        "the paper code sets no cap: 2048 is gemini-1.0-pro's own limit (budgets reserve it per request)",
    ),
    Switch(
        "evaluation.greedy",
        False,
        True,
        "10 evaluation decoding",
        "greedy is deterministic and costs one pass; the paper's sampling is offered with seeds",
    ),
    Switch("evaluation.temperature", 0.3, 0.3, "10 evaluation decoding", "the paper's value when sampling"),
    Switch("evaluation.top_p", 0.9, 0.9, "10 evaluation decoding", "the paper's value when sampling"),
    Switch(
        "evaluation.seeds",
        [0, 1, 2],
        [],
        "10 evaluation decoding",
        "sampled evaluation repeated per seed: mean and spread instead of one draw",
    ),
    Switch(
        "dataset.source",
        "hub",
        "hub",
        "11 local files vs the Hub",
        "the Hub copies have the paper's splits; `source: local` warns where its split differs",
    ),
)


def config_value(data: dict[str, Any], key: str) -> Any:
    """The value at a dotted key of a config dict; `teachers.<name>.field` picks the teacher by name."""
    node: Any = data
    parts = key.split(".")
    for index, part in enumerate(parts):
        if isinstance(node, list):
            node = next(t for t in node if t.get("name") == part)
        elif index == len(parts) - 1 or part in node:
            node = node[part]
        else:
            raise KeyError(key)
    return node
