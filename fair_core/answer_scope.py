"""Which part of a reply answers the asked question, when the student poses and answers questions of its own.

Students (Llama-2-chat above all) often continue past their answer: they invent a follow-up ("Question 2:
... Answer: 5", "Here's another question: ..."), or they split the asked question into numbered
sub-questions and answer each ("1. Does the game depict ...? Answer: False", "2. ...? Answer: True") without
ever answering the asked one. The last answer of such a reply belongs to the last question the student made
up, so reading it as the answer is wrong either way. The rule (`answer_scope`):

- a reply with fewer than two answered questions is read whole, as before (a restated question followed
  by its answer is one question, not two);
- else, when the text before the first made-up question gives an answer, that part is the reply: the
  student answered the asked question first, then went on with its own;
- else the reply answers only questions of its own: it has no answer (None), rather than a guess.

Evidence, from the FAIR paper code's round-0 Llama-2-7b-chat replies (`../shared/datasets/reference_round0`
and the paper repository's StrategyQA file): on StrategyQA, 2 of 825 replies answer only questions of their
own, e.g. four numbered sub-questions answered False, False, True, True, or a chain of "True or False:
<a statement of its own>" each explained "False.", without a verdict on the asked question: any of those
words would be a guess, so None. That the first answer is the asked one's when the student answers before
it goes on is what the paper code itself relies on: its cleanup keeps a SVAMP reply only up to the first
number after a line starting "Answer" (so the stored SVAMP replies hold no continuation to test on). A
question restated is one question: 125 StrategyQA replies have "True or False: ..." or numbered question
lines, and all but those 2 are read whole, as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from fair_core import answer_patterns as P

__all__ = ["answer_scope"]


def answer_scope(
    text: str, opening_answer: Callable[[str], str | None], section_answer: Callable[[str], str | None]
) -> str | None:
    """The part of `text` to read the answer from: all of it, its opening part, or None when the reply
    answers only questions of its own. `opening_answer` and `section_answer` give the answer the opening
    part, and a made-up question's section, state (None when they state none)."""
    headers = [m.start() for m in P.SUBQUESTION_RE.finditer(text)]
    if not headers:
        return text
    sections = [text[a:b] for a, b in itertools.pairwise([*headers, len(text)])]
    answered = sum(1 for s in sections if section_answer(s) is not None)
    # the opening part, its questions aside (a restated question is no answer, its numbers no result)
    opening = P.QUESTION_SENTENCE_RE.sub(" ", text[: headers[0]])
    opening_answers = bool(opening.strip()) and opening_answer(opening) is not None
    if answered + opening_answers < 2:
        return text
    return opening if opening_answers else None
