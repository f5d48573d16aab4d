"""Row converters per dataset: one raw or Hub row (a dict) -> `Example`, or `RowError` when malformed.

The Hub copies and the raw public files share row formats, so hub.py and local.py use the same converters:

- gsm8k (`openai/gsm8k` and `gsm8k/*.jsonl`): `question`, `answer` ending with "#### N". The solution is
  the text before "####" without the `<<48/2=24>>` calculator annotations; the gold is N.
  id: gsm8k-<split>-<index>.
- svamp (`ChilleD/SVAMP` and `SVAMP.json`): `Body` + " " + `Question` (or `question_concat` when present),
  `Equation` (the solution), `Answer`; lower-case variants of those names are accepted too. id: the `ID`.
- strategyqa (`ChilleD/StrategyQA` and `train.json`/`dev.json`): `question`, `answer` (bool), `facts` (list or
  text; joined with spaces as the solution). id: the `qid`.
- logiqa (`lucasmccabe/logiqa` and, after local.py parses them, `Eval.txt`/`Test.txt`): `context`, `query`,
  `options` (exactly 4), `correct_option` (0-3 or a letter a-d) -> gold letter A-D.
  id: logiqa-<split>-<index>.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fair_core.answers import normalize_gold
from fair_core.datasets.base import RowError
from fair_core.records import AnswerKind, Example

CALCULATOR_ANNOTATION = re.compile(r"<<[^<>]*>>")
CHOICE_LETTERS = "ABCD"

RowConverter = Callable[[Any, str, int], Example]


def _mapping(row: Any, row_id: str | None = None) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise RowError(f"not an object: got {type(row).__name__}", row_id)
    return row


def _text(row: Mapping[str, Any], *keys: str) -> str | None:
    """The first of `keys` holding a non-blank string (stripped), else None."""
    for key in keys:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _gold(raw: Any, kind: AnswerKind, row_id: str) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise RowError("missing gold answer", row_id)
    try:
        return normalize_gold(raw, kind)
    except ValueError as err:
        raise RowError(f"unparseable gold answer: {raw!r} ({err})", row_id) from None


def _question(row: Mapping[str, Any], row_id: str, *keys: str) -> str:
    question = _text(row, *keys)
    if question is None:
        raise RowError(f"missing question: no text in {'/'.join(keys)}", row_id)
    return question


def strip_calculator_annotations(text: str) -> str:
    """'48/2 = <<48/2=24>>24' -> '48/2 = 24'."""
    return CALCULATOR_ANNOTATION.sub("", text)


def gsm8k(row: Any, split: str, index: int) -> Example:
    row_id = f"gsm8k-{split}-{index}"
    row = _mapping(row, row_id)
    question = _question(row, row_id, "question")
    answer_text = row.get("answer")
    if not isinstance(answer_text, str) or "####" not in answer_text:
        raise RowError("missing final answer: no '#### N' in the answer field", row_id)
    reasoning, _, final = answer_text.rpartition("####")
    solution = strip_calculator_annotations(reasoning).strip() or None
    return Example(
        id=row_id,
        dataset="gsm8k",
        question=question,
        answer=_gold(final.strip(), "numeric", row_id),
        kind="numeric",
        solution=solution,
    )


def svamp(row: Any, split: str, index: int) -> Example:
    row = _mapping(row)
    raw_id = row.get("ID", row.get("id"))
    row_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else f"svamp-{split}-{index}"
    question = _text(row, "question_concat")
    if question is None:
        body = _text(row, "Body", "body") or ""
        asked = _text(row, "Question", "question") or ""
        question = f"{body} {asked}".strip()
    if not question:
        raise RowError("missing question: no text in question_concat or Body/Question", row_id)
    equation = row.get("Equation", row.get("equation"))
    solution = str(equation).strip() if equation is not None and str(equation).strip() else None
    return Example(
        id=row_id,
        dataset="svamp",
        question=question,
        answer=_gold(row.get("Answer", row.get("answer")), "numeric", row_id),
        kind="numeric",
        solution=solution,
    )


def strategyqa(row: Any, split: str, index: int) -> Example:
    row = _mapping(row)
    raw_id = row.get("qid")
    row_id = (
        str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else f"strategyqa-{split}-{index}"
    )
    question = _question(row, row_id, "question")
    facts = row.get("facts")
    if isinstance(facts, str):
        solution = facts.strip() or None
    elif isinstance(facts, list | tuple):
        solution = " ".join(str(f).strip() for f in facts if str(f).strip()) or None
    else:
        solution = None
    return Example(
        id=row_id,
        dataset="strategyqa",
        question=question,
        answer=_gold(row.get("answer"), "boolean", row_id),
        kind="boolean",
        solution=solution,
    )


def choice_letter(raw: Any, row_id: str) -> str:
    """Correct option as a letter: 0-3 (int or digit string) or a letter a-d / A-D."""
    if isinstance(raw, bool):
        raise RowError(f"unparseable gold answer: {raw!r} is not an option index or letter", row_id)
    if isinstance(raw, int) and 0 <= raw < len(CHOICE_LETTERS):
        return CHOICE_LETTERS[raw]
    if isinstance(raw, str):
        text = raw.strip()
        if text.isdigit() and 0 <= int(text) < len(CHOICE_LETTERS):
            return CHOICE_LETTERS[int(text)]
        if len(text) == 1 and text.upper() in CHOICE_LETTERS:
            return text.upper()
    raise RowError(f"unparseable gold answer: {raw!r} is not an option index 0-3 or a letter A-D", row_id)


def logiqa(row: Any, split: str, index: int) -> Example:
    row_id = f"logiqa-{split}-{index}"
    row = _mapping(row, row_id)
    question = _question(row, row_id, "query", "question")
    options = row.get("options")
    if not isinstance(options, list | tuple) or len(options) != len(CHOICE_LETTERS):
        count = len(options) if isinstance(options, list | tuple) else 0
        raise RowError(f"wrong option count: expected {len(CHOICE_LETTERS)} options, got {count}", row_id)
    texts = tuple(str(o).strip() for o in options)
    if not all(texts):
        raise RowError("wrong option count: an option is empty", row_id)
    letter = choice_letter(row.get("correct_option", row.get("answer")), row_id)
    return Example(
        id=row_id,
        dataset="logiqa",
        question=question,
        answer=_gold(letter, "choice", row_id),
        kind="choice",
        context=_text(row, "context"),
        options=texts,
    )


CONVERTERS: dict[str, RowConverter] = {
    "gsm8k": gsm8k,
    "svamp": svamp,
    "strategyqa": strategyqa,
    "logiqa": logiqa,
}
