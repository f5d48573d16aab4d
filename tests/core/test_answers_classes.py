"""Tests of fair_core.answers on what students write, by class: decisions, verdicts, currency, own questions.

Every reply here is hand-written; each class has several phrasings and cases that must not match.
"""

from __future__ import annotations

import pytest

from fair_core.answers import extract_answer, is_correct


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a decision verb, then a choice label
        ("I would choose D", "D"),
        ("I'd go with (B).", "B"),
        ("After weighing all four, I pick C because the others contradict the passage.", "C"),
        ("I'll select option A.", "A"),
        ("I'm going with B", "B"),
        ("We would opt for (d) here.", "D"),
        ("Let's go with C.", "C"),
        ("Option A looks tempting, but I would rather choose D.", "D"),
        ("I would choose to ignore option D and pick B", "B"),  # the decision is "pick B"
        # a decision noun, then a choice label
        ("my choice is C", "C"),
        ("The best option is A, since it explains the drop.", "A"),
        ("My pick: D", "D"),
        ("My final selection would be B.", "B"),
        ("My guess is (a).", "A"),
        # the last decision wins, like the last "answer is"
        ("At first I'd pick A. On reflection, my choice is C.", "C"),
        # not decisions
        ("I would not choose D.", None),
        ("I wouldn't pick A.", None),
        ("Choose A, B, C or D.", None),
        ("I would choose A or B, it is hard to say.", None),
        ("I would choose A person who reads the passage closely.", None),
        ("I would choose to skip this one.", None),
        ("I pick E.", None),  # four options only
        # a list guard, not a list
        ("The answer is A, B is wrong.", "A"),
        ("I would go with B or a variant of it.", "B"),
        ("Answer: A, B or C", None),
    ],
)
def test_choice_stated_as_a_decision(text: str, expected: str | None) -> None:
    assert extract_answer(text, "choice") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a verdict after a label
        ("Conclusion: False.", "false"),
        ("Final verdict - true", "true"),
        ("Reasoning: the Nile is long.\n\n**Conclusion:** True. It is longer than the Danube.", "true"),
        ("My verdict is: no", "false"),
        ("Explanation: False. Penguins do not live in the Arctic.", "false"),
        # a verdict after a hedge or an opinion
        ("I believe this to be false", "false"),
        ("I think the statement is true", "true"),
        ("so it is likely false", "false"),
        ("Overall, I believe this statement is false because penguins swim.", "false"),
        ('Therefore, I would say "true".', "true"),
        ('Therefore, I would answer "false" to the question.', "false"),
        ("I think this is probably true.", "true"),
        ("The claim is false.", "false"),
        # denied, conditional or a mere mention: no verdict
        ("I don't think this is true.", None),
        ("If this is true, penguins would fly.", None),
        ("It is true that Paris is in France.", None),
        ("I cannot say whether the statement is false.", None),
        ("Explanation: True love is rare among penguins.", None),
        ("Conclusion: true or false, it depends on the season.", None),
        # an explicit answer still wins over an opinion
        ("I think the statement is true at first sight.\nAnswer: False", "false"),
    ],
)
def test_verdict_after_a_label_or_a_hedge(text: str, expected: str | None) -> None:
    assert extract_answer(text, "boolean") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: $ 98 x 89 = $ 8,612", "8612"),  # SVAMP's own style: a space after the sign
        ("Answer: $ 186 - $ 172 = $ 14", "14"),
        ("The answer is € 12 + € 3 = € 15.", "15"),
        ("Answer: £ 7.50 x 2 = £ 15", "15"),
        ("Answer: $ 100", "100"),
        ("Answer: 28 + 42 = 70 + 63 = 133", "133"),  # a chain gives its last result
        # options the reply listed itself, then "Answer: B)": that option's number
        ("A) 728 sacks\nB) 1,052 sacks\nC) 1,304 sacks\n\nAnswer: B)", "1052"),
        ("A) $ 3\nB) $ 5\n\nAnswer: (A)", "3"),
        # not results
        ("Answer: $ 98 x 89", "98"),  # no result: the first term, as for "Answer: 98 x 89"
        ("Answer: D)", None),  # names an option that the reply never listed, and no number at all
    ],
)
def test_currency_sign_and_space_inside_an_equation(text: str, expected: str | None) -> None:
    assert extract_answer(text, "numeric") == expected


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        # answered the asked question, then made up more: the first answer
        ("Answer: 7\n\nQuestion 2: How many pears does he have?\nAnswer: 5", "numeric", "7"),
        (
            "He has 3 + 4 = 7 apples.\n\nQuestion 2: And pears?\nAnswer: 5\n\nQuestion 3: Plums?\nAnswer: 2",
            "numeric",
            "7",
        ),
        ("The answer is 12.\n\nHere's another question: Tom has 4 dogs...?\nAnswer: 9", "numeric", "12"),
        ("Answer: False\n\nHere is a follow-up question: Can fish fly?\nAnswer: True", "boolean", "false"),
        ("The answer is (B).\n\nNext question: which is red?\nAnswer: (D)", "choice", "B"),
        # answered only questions of its own: no answer
        (
            "1. Is it large?\nAnswer: False\n\n2. Is it old?\nAnswer: True\n\n3. Is it red?\nAnswer: True",
            "boolean",
            None,
        ),
        (
            "True or False: it is red.\nExplanation: False.\n\nTrue or False: it is big.\nExplanation: True.",
            "boolean",
            None,
        ),
        (
            "My 3 questions:\nQuestion 1: How many?\nAnswer: 5\nQuestion 2: How many more?\nAnswer: 7",
            "numeric",
            None,
        ),
        # one question, restated or posed once, then answered: read whole as before
        ("Question 1: How many apples are left?\nAnswer: 5", "numeric", "5"),
        ("True or False: Penguins can fly.\n\nAnswer: False\n\nExplanation: they swim.", "boolean", "false"),
        ("A waiter had 3 customers. How many left?\n\nAnswer: 1", "numeric", "1"),
        # numbered steps posed as questions, one final answer: the final answer
        (
            "1. How many does Tom have?\nTom has 3 + 4 = 7.\n2. How many are left?\n7 - 2 = 5.\nAnswer: 5",
            "numeric",
            "5",
        ),
    ],
)
def test_answers_to_questions_of_its_own_are_not_the_answer(
    text: str, kind: str, expected: str | None
) -> None:
    assert extract_answer(text, kind) == expected  # type: ignore[arg-type]


def test_the_last_sub_answer_is_not_judged() -> None:
    reply = "Answer: 7\n\nQuestion 2: What if he buys 2 more?\nAnswer: 9"
    assert is_correct(reply, "7", "numeric") == ("7", True)
    assert is_correct(reply, "9", "numeric") == ("7", False)
