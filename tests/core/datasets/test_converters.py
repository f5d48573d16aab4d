"""Row converters on hand-written rows, in the Hub and the raw-file formats, valid and malformed."""

from __future__ import annotations

import pytest

from fair_core.datasets import answer_kind
from fair_core.datasets.base import DatasetError, RowError
from fair_core.datasets.converters import (
    choice_letter,
    gsm8k,
    logiqa,
    strategyqa,
    strip_calculator_annotations,
)
from fair_core.datasets.converters import svamp as svamp_row

GSM_ROW = {
    "question": "Tom has 3 boxes of 4 pens. How many pens?",
    "answer": "Each box has 4 pens.\nSo 3*4 = <<3*4=12>>12 pens.\n#### 1,200",
}


def test_answer_kinds() -> None:
    assert answer_kind("gsm8k") == "numeric"
    assert answer_kind("svamp") == "numeric"
    assert answer_kind("reasoning_gym") == "numeric"
    assert answer_kind("reasoning_gym/chain_sum") == "numeric"
    assert answer_kind("strategyqa") == "boolean"
    assert answer_kind("logiqa") == "choice"
    with pytest.raises(DatasetError, match="unknown dataset 'mmlu'"):
        answer_kind("mmlu")


def test_gsm8k_row() -> None:
    ex = gsm8k(GSM_ROW, "train", 7)
    assert ex.id == "gsm8k-train-7"
    assert ex.dataset == "gsm8k" and ex.kind == "numeric"
    assert ex.answer == "1200"
    assert ex.solution == "Each box has 4 pens.\nSo 3*4 = 12 pens."
    assert "<<" not in ex.solution and "####" not in ex.solution


def test_strip_calculator_annotations() -> None:
    assert strip_calculator_annotations("48/2 = <<48/2=24>>24 and <<24+48=72>>72") == "48/2 = 24 and 72"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"question": "", "answer": "x\n#### 3"}, "missing question"),
        ({"answer": "x\n#### 3"}, "missing question"),
        ({"question": "Q?", "answer": "no marker 3"}, "missing final answer"),
        ({"question": "Q?", "answer": "x\n#### many"}, "unparseable gold answer"),
        ({"question": "Q?", "answer": "x\n####  "}, "missing gold answer"),
        (["not", "a", "dict"], "not an object"),
    ],
)
def test_gsm8k_malformed(row: object, reason: str) -> None:
    with pytest.raises(RowError, match=reason):
        gsm8k(row, "test", 3)


def test_svamp_raw_row() -> None:
    row = {
        "ID": "chal-5",
        "Body": "Each pack costs 76 dollars. There is a discount of 25 dollars on each pack",
        "Question": "How much do you pay for each pack?",
        "Equation": "( 76.0 - 25.0 )",
        "Answer": 51.0,
        "Type": "Subtraction",
    }
    ex = svamp_row(row, "train", 0)
    assert ex.id == "chal-5"
    assert ex.question == (
        "Each pack costs 76 dollars. There is a discount of 25 dollars on each pack "
        "How much do you pay for each pack?"
    )
    assert ex.answer == "51"
    assert ex.solution == "( 76.0 - 25.0 )"


def test_svamp_hub_row_prefers_question_concat() -> None:
    row = {
        "ID": "chal-9",
        "Body": "A body.",
        "Question": "A question?",
        "question_concat": "A body. A question? (concatenated)",
        "Equation": "( 2.0 * 3.0 )",
        "Answer": 6.0,
    }
    ex = svamp_row(row, "test", 4)
    assert ex.question == "A body. A question? (concatenated)"
    assert ex.answer == "6"


def test_svamp_lowercase_columns_and_missing_id() -> None:
    ex = svamp_row({"body": "B.", "question": "Q?", "equation": "( 1.0 + 2.5 )", "answer": "3.5"}, "test", 4)
    assert ex.id == "svamp-test-4"
    assert ex.question == "B. Q?"
    assert ex.answer == "3.5"


def test_svamp_malformed() -> None:
    with pytest.raises(RowError, match="missing question") as err:
        svamp_row({"ID": "chal-1", "Answer": 3.0}, "train", 0)
    assert err.value.row_id == "chal-1"
    with pytest.raises(RowError, match="unparseable gold answer"):
        svamp_row({"ID": "chal-2", "Body": "B", "Question": "Q", "Answer": "lots"}, "train", 1)
    with pytest.raises(RowError, match="missing gold answer"):
        svamp_row({"ID": "chal-3", "Body": "B", "Question": "Q"}, "train", 2)


def test_strategyqa_row() -> None:
    row = {
        "qid": "abc123",
        "term": "Owl",
        "question": "Can an owl read?",
        "answer": False,
        "facts": ["Owls are birds.", " Birds cannot read. "],
        "decomposition": ["..."],
    }
    ex = strategyqa(row, "train", 0)
    assert (ex.id, ex.answer, ex.kind) == ("abc123", "false", "boolean")
    assert ex.solution == "Owls are birds. Birds cannot read."
    assert strategyqa({"qid": "q2", "question": "Q?", "answer": True}, "test", 1).solution is None
    assert (
        strategyqa({"qid": "q3", "question": "Q?", "answer": "yes", "facts": "F."}, "test", 2).answer
        == "true"
    )


def test_strategyqa_malformed() -> None:
    with pytest.raises(RowError, match="unparseable gold answer") as err:
        strategyqa({"qid": "q9", "question": "Q?", "answer": "maybe"}, "train", 0)
    assert err.value.row_id == "q9"
    with pytest.raises(RowError, match="missing gold answer"):
        strategyqa({"qid": "q8", "question": "Q?"}, "train", 0)
    with pytest.raises(RowError, match="not an object"):
        strategyqa("Q?", "train", 0)


LOGIQA_ROW = {
    "context": "All cats are grey. Tom is a cat.",
    "query": "Which follows?",
    "options": ["Tom is grey.", "Tom is black.", "Tom is a dog.", "None."],
    "correct_option": 0,
}


@pytest.mark.parametrize(("raw", "letter"), [(0, "A"), (3, "D"), ("2", "C"), ("b", "B"), ("D", "D")])
def test_logiqa_row(raw: object, letter: str) -> None:
    ex = logiqa({**LOGIQA_ROW, "correct_option": raw}, "validation", 2)
    assert ex.id == "logiqa-validation-2"
    assert (ex.answer, ex.kind) == (letter, "choice")
    assert ex.context == "All cats are grey. Tom is a cat."
    assert ex.question == "Which follows?"
    assert ex.options == ("Tom is grey.", "Tom is black.", "Tom is a dog.", "None.")


def test_logiqa_malformed() -> None:
    with pytest.raises(RowError, match="wrong option count: expected 4 options, got 3"):
        logiqa({**LOGIQA_ROW, "options": ["a", "b", "c"]}, "test", 0)
    with pytest.raises(RowError, match="wrong option count"):
        logiqa({**LOGIQA_ROW, "options": None}, "test", 0)
    for bad in (4, -1, "e", "AB", True, None):
        with pytest.raises(RowError, match="unparseable gold answer"):
            logiqa({**LOGIQA_ROW, "correct_option": bad}, "test", 0)
    with pytest.raises(RowError, match="missing question"):
        logiqa({**LOGIQA_ROW, "query": " "}, "test", 0)


def test_choice_letter() -> None:
    assert [choice_letter(i, "x") for i in range(4)] == ["A", "B", "C", "D"]
