"""Tests of fair_core.answers on hand-written replies: tricky ones per kind, gold normalization, matching."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from fair_core.answers import answers_match, extract_answer, is_correct, normalize_gold

OPTIONS = (
    "A.The cat sat on the mat all afternoon.",
    "B.Dogs bark loudly at night in the city.",
    "C.Birds sing in the early morning.",
    "D.Fish swim in the deep sea.",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("145.0", "145"),
        ("The answer is 145.0", "145"),
        ("So she has 1,234 apples.", "1234"),
        ("It costs $18.", "18"),
        ("He pays 18 dollars in total.", "18"),
        ("The discount is 18%", "18"),
        ("The answer is -4.", "-4"),
        ("The temperature drops to −7 degrees.", "-7"),
        ("Each one weighs 0.5 kg", "0.5"),
        ("The answer is 3/4", "0.75"),
        ("The answer is 1,234.50 dollars.", "1234.5"),
        # numbers inside the reasoning vs the final one: with no marker the last number wins
        ("First 3 + 4 = 7, then 7 * 2 = 14.", "14"),
        ("Tom has 5 apples and buys 3 more, so he has 8 apples in 2 bags", "2"),
        # an explicit answer marker wins over every other number, later ones included (documented decision)
        ("The answer is 7. Check: 3 + 4 = 7, and 10 - 3 = 7 too, for all 12 cases.", "7"),
        ("Answer: 60\n\nExplanation:\nDanny threw away 60 caps, so 60 - 60 = 0 are left. He found 58", "60"),
        ("The answer is 5.\nWait, I made an error. The answer is 6.", "6"),
        ("The final answer to this problem is 18 apples.", "18"),
        ("Final answer: **42**", "42"),
        ("The answer is: 18.", "18"),
        ("The answer is approximately 3.14", "3.14"),
        ("The answer is x = 12", "12"),
        # "a op b = c" right after a marker gives c
        ("Answer: 412 - 90 = 322\n\nExplanation: he lost 412 - 20 = 392", "322"),
        ("Answer: $186 - $172 = $14", "14"),
        ("The answer is 12 / 4 = 3", "3"),
        # a loose "Answer: <sentence>" gives the last number of that sentence
        ("Answer: Julia played with 14 kids on Tuesday and 16", "16"),
        ("Answer: Tom has 3 apples and buys 4 more, so 7.\nLater he eats 2.", "7"),
        # GSM8K and LaTeX markers
        ("She earns 12 * 6 = <<12*6=72>>72 dollars.\n#### 72", "72"),
        ("#### 1,080", "1080"),
        (r"Thus the result is \boxed{18}. We used 3 boxes.", "18"),
        (r"The final answer is $\boxed{18}$.", "18"),
        (r"so \boxed{\frac{3}{4}}", "0.75"),
        (r"\boxed{\dfrac{1}{8}}", "0.125"),
        (r"\boxed{1{,}234}", "1234"),
        (r"\boxed{18\%}", "18"),
        (r"\boxed{\$18}", "18"),
        (r"\boxed{x = 5}", "5"),
        (r"\boxed{18 \text{ dollars}}", "18"),
        (r"The answer is $\frac{1}{2}$", "0.5"),
        # list markers only count when nothing else is there
        ("Steps:\n1. Add 3 and 4 to get 7\n2.", "7"),
        ("1.\n2.", "2"),
        # nothing usable
        ("I do not know.", None),
        ("", None),
        ("   \n ", None),
        (None, None),
    ],
)
def test_extract_numeric(text: str | None, expected: str | None) -> None:
    assert extract_answer(text, "numeric") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No, because penguins cannot fly.", "false"),
        ("Yes.", "true"),
        ("True", "true"),
        ("**Yes**, indeed.", "true"),
        ("No it is not.", "false"),
        ("The answer is true", "true"),
        ("Answer: True", "true"),
        ("Answer: No", "false"),
        ("The final answer is: False.", "false"),
        ("So the answer is no.", "false"),
        ("Penguins are birds. So the answer is yes.", "true"),
        ("It is not true that X is Y, so the answer is false.", "false"),
        ("The answer is no, because it is true that fish swim.", "false"),
        ("Yes, it seems so at first. But the answer is no.", "false"),
        ("Let me think.\nNo\n", "false"),
        ("They never met. Therefore, no.", "false"),
        ("No one knows for sure. So, yes.", "true"),
        (r"\boxed{yes}", "true"),
        # mentions without a decisive answer
        ("It is true that Paris is in France.", None),
        ("True or false: fish swim. Fish live in water.", None),
        ('"No Fear Shakespeare" is a series of books.', None),
        ("Nobody knows whether that is true.", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_boolean(text: str | None, expected: str | None) -> None:
    assert extract_answer(text, "boolean") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is B", "B"),
        ("The answer is B because dogs bark.", "B"),
        ("Answer: (C)", "C"),
        ("answer: (c)", "C"),
        ("The correct answer is option D.", "D"),
        ("The correct option is D.", "D"),
        ("option D", "D"),
        ("A. Because the cat is calm.", "A"),
        ("B) dogs", "B"),
        ("(c)", "C"),
        ("B", "B"),
        (r"\boxed{B}", "B"),
        ("Option A is wrong. Option B is correct.", "B"),
        ("A. foo\nB. bar\nC. baz\nD. qux\nThe answer is C", "C"),
        ("The answer to question A is B.", "B"),
        # by option text
        ("I think dogs bark loudly at night in the city.", "B"),
        ("Clearly, fish swim in the deep sea!", "D"),
        ("Looking at it again, birds sing in the morning, mostly", "C"),
        # ambiguous or no answer
        ("The cat sat on the mat all afternoon, and dogs bark loudly at night in the city.", None),
        ("Option A and option C are both plausible.", None),
        ("A. foo\nB. bar", None),
        ("The answer is a bit unclear.", None),
        ("Answer: A person would say so.", None),
        ("The answer is E.", None),
        ("I cannot tell.", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_choice(text: str | None, expected: str | None) -> None:
    assert extract_answer(text, "choice", OPTIONS) == expected


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown answer kind"):
        extract_answer("The answer is 3", "integer")  # type: ignore[arg-type]


def test_choice_letters_follow_the_number_of_options() -> None:
    assert extract_answer("The answer is E", "choice", [*OPTIONS, "E.Five"]) == "E"
    assert extract_answer("The answer is E", "choice") is None  # four options by default
    assert extract_answer("The answer is C", "choice", OPTIONS[:2]) is None


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        (51.0, "numeric", "51"),
        (2.5, "numeric", "2.5"),
        (0.1 + 0.2, "numeric", "0.3"),
        (-0.0, "numeric", "0"),
        (72, "numeric", "72"),
        ("1,234", "numeric", "1234"),
        ("0", "numeric", "0"),
        ("-4", "numeric", "-4"),
        ("3/4", "numeric", "0.75"),
        ("$18", "numeric", "18"),
        (r"\frac{1}{4}", "numeric", "0.25"),
        (True, "boolean", "true"),
        (False, "boolean", "false"),
        ("Yes", "boolean", "true"),
        ("no", "boolean", "false"),
        ("a", "choice", "A"),
        (" d\n", "choice", "D"),
        ("(B)", "choice", "B"),
    ],
)
def test_normalize_gold(raw: str | float | bool, kind: str, expected: str) -> None:
    assert normalize_gold(raw, kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("", "numeric"),
        ("abc", "numeric"),
        ("ABSOLUTE_WRONG_FINAL_ANS", "numeric"),
        (float("nan"), "numeric"),
        (True, "numeric"),
        ("maybe", "boolean"),
        ("", "choice"),
        ("AB", "choice"),
        (1, "choice"),
    ],
)
def test_normalize_gold_rejects_malformed(raw: str | float, kind: str) -> None:
    with pytest.raises(ValueError, match="gold answer"):
        normalize_gold(raw, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("predicted", "gold", "kind", "expected"),
    [
        ("145", "145", "numeric", True),
        ("145.0", "145", "numeric", True),
        ("1,234", "1234", "numeric", True),
        ("0.3333333", "0.33333333333", "numeric", True),
        ("145.01", "145", "numeric", False),
        ("0.75", "3/4", "numeric", True),
        (r"\frac{3}{4}", "0.75", "numeric", True),
        (r"\sqrt{4}", "2", "numeric", True),
        ("x", "2", "numeric", False),
        (None, "2", "numeric", False),
        ("true", "true", "boolean", True),
        ("yes", "true", "boolean", True),
        ("false", "true", "boolean", False),
        ("maybe", "true", "boolean", False),
        ("B", "B", "choice", True),
        ("b", "B", "choice", True),
        ("C", "B", "choice", False),
        (None, "B", "choice", False),
    ],
)
def test_answers_match(predicted: str | None, gold: str, kind: str, expected: bool) -> None:
    assert answers_match(predicted, gold, kind) is expected  # type: ignore[arg-type]


def test_is_correct() -> None:
    assert is_correct("So 6 * 3 = 18. The answer is 18.", "18", "numeric") == ("18", True)
    assert is_correct("The answer is 17", "18", "numeric") == ("17", False)
    assert is_correct("No, never.", "false", "boolean") == ("false", True)
    assert is_correct("The answer is (C)", "B", "choice", OPTIONS) == ("C", False)
    assert is_correct(None, "18", "numeric") == (None, False)


def test_works_in_worker_threads() -> None:
    """math_verify runs with its signal-based timeouts off, so the LaTeX paths work off the main thread."""
    results: list[object] = []

    def work() -> None:
        results.append(extract_answer(r"so \boxed{\frac{3}{4}}", "numeric"))
        results.append(answers_match(r"\frac{3}{4}", "0.75", "numeric"))
        results.append(normalize_gold(r"\frac{1}{4}", "numeric"))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)
    assert results == ["0.75", True, "0.25"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(
            pool.map(lambda n: extract_answer(rf"\boxed{{\frac{{{n}}}{{4}}}}", "numeric"), range(1, 9))
        )
    assert found == ["0.25", "0.5", "0.75", "1", "1.25", "1.5", "1.75", "2"]


@pytest.mark.timeout(120)  # a hang guard (catastrophic backtracking), not a timing assertion
def test_odd_input_never_raises() -> None:
    odd = [
        "answer" + " " * 20000 + "is",
        "yes" + "\n" * 20000 + "x",
        "The answer is " + "1 + " * 20000,
        r"\boxed{" * 2000,
        r"\boxed{9^{9^{9}}}",
        r"\boxed{10^{100000}}",
        "1/0",
        "\x00\ufffd" * 100,
        "(" * 5000,
    ]
    answers = []
    for text in odd:
        for kind in ("numeric", "boolean", "choice"):
            answers.append(extract_answer(text, kind, OPTIONS))  # type: ignore[arg-type]
    assert len(answers) == 3 * len(odd) and all(a is None or isinstance(a, str) for a in answers)
