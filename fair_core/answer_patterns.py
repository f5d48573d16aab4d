"""The regular expressions of fair_core.answers, by answer kind: markers, verdicts, decisions, sub-questions.

Fillers are bounded ({0,12}): unbounded neighbours like [\\s]*\\s* make a regex quadratic on long blanks.
"""

from __future__ import annotations

import re

# ---- numeric -----------------------------------------------------------------------------------------------

NUM = r"[-−]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:\s?/\s?\d+(?!\.\d))?"
NUM_RE = re.compile(rf"(?<![\w.]){NUM}")
_TEX_FRAC = r"\\[dt]?frac\{[^{}]{1,30}\}\{[^{}]{1,30}\}"
# a currency sign, with or without a space before the number ("$ 8,612", SVAMP's own style)
_CUR = r"(?:[$€£¥] ?)?"
_OP = r"[-+*/×÷x]"
_TERM = rf"(?: ?{_OP} ?{_CUR}{NUM}){{0,20}}"
_FILL = r"[\s*:=$€£¥(\[{]{0,12}(?:(?:approximately|about|roughly|around|exactly|only|just|x ?=|\\approx) ?)?"
# "a op b = c": the result; a chain "a + b = c + d = e" gives its last result e
_VAL = rf" ?{_CUR}(?P<val>{NUM}|{_TEX_FRAC}){_TERM}(?: ?= ?{_CUR}(?P<res>{NUM}){_TERM}){{0,5}}"
VERB = r"(?:is|was|would be|will be|should be|comes to|equals)"
ANSWER = rf"\b(?:final\s+answer|answer)\b(?:[^.:,;\n\d]{{0,60}}?\b{VERB}\b)?"
TIGHT_RE = re.compile(rf"(?:{ANSWER}|####){_FILL}{_VAL}", re.IGNORECASE)
LOOSE_RE = re.compile(r"\banswer\b\s*(?:is\b|:)(?P<rest>[^\n]*?)(?:(?<!\d)\.(?!\d)|\n|$)", re.IGNORECASE)
# "Answer: B)" after options the reply listed itself ("A) 728 sacks", "B) 1,052 sacks"): option B's number
ANSWER_LETTER_RE = re.compile(
    r"\banswer\b\s*(?:is\b|:)[\s*]{0,4}\(?(?-i:(?P<letter>[A-E]))[).:]", re.IGNORECASE
)
OWN_OPTION = r"^[ \t*]*\(?{}[).:][ \t]*{}(?P<num>{})"
PLAIN_RE = re.compile(r"-?\d+(?:\.\d+)?(?:/-?\d+(?:\.\d+)?)?")
BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
TOWER_RE = re.compile(r"\^\s*\{?\s*[-(]?\d{4,}|!")
CURRENCY_SIGNS = "$€£¥"


def own_option_re(letter: str) -> re.Pattern[str]:
    """A line "B) 1,052 ..." of options a reply lists itself, the number in group "num"."""
    return re.compile(OWN_OPTION.format(re.escape(letter), _CUR, NUM), re.MULTILINE)


# ---- boolean -----------------------------------------------------------------------------------------------

_BOOL = r"(?P<{}>yes|no|true|false)\b(?!-)(?!\s+(?:one|longer|more|matter|doubt|need|or|and)\b)"
_HEDGE = r"(?:(?:definitely|clearly|simply|probably|likely|most likely|certainly|obviously|indeed|a)\s+)?"
_BFILL = rf"[\s*:=\"'(\[{{]{{0,12}}(?:\\boxed\{{|\\text\{{)?{_HEDGE}"
# a verdict ends its clause: punctuation, the end, or a reason ("false because ...")
_BEND = (
    r"(?=[\s*\"'’”]*(?:[.!,;:)\]]|$|\s+(?:because|since|as|based|given|due)\b"
    r"|\s+(?:to|for)\s+(?:the|this|that)\s+(?:question|statement|claim)\b))"
)
_LABEL = (
    r"(?:final\s+)?(?:conclusion|verdict|decision|judge?ment|assessment|determination|bottom\s+line|result)"
)
BOOL_EXPLICIT_RE = re.compile(
    rf"(?:{ANSWER}|\\boxed\{{){_BFILL}{_BOOL.format('word')}"
    # a labelled verdict: "Conclusion: False.", "Final verdict - true", "My verdict is: no"
    rf"|\b{_LABEL}\b(?:\s+{VERB})?[\s*]{{0,4}}[:=\-–—][\s*\"'“]{{0,6}}{_HEDGE}{_BOOL.format('label')}{_BEND}",
    re.IGNORECASE,
)
_OPINION = (
    r"\bI(?:'d|'ll|'m| would| will| do| can| must| am)?(?:\s+(?:therefore|thus|then|personally|still|now|"
    r"strongly|firmly|honestly|would|also))?\s+(?:believe|think|say|answer|conclude|guess|reckon|feel|"
    r"consider|judge|go with|going with|vote|lean towards?|mark|determine|find)"
)
_SUBJECT = r"(?:it|this|that|the\s+(?:statement|claim|assertion|proposition|premise|answer|above))"
_COPULA = r"(?:is|was|would be|will be|must be|should be|seems(?: to be)?|appears(?: to be)?)"
BOOL_OTHER_RE = re.compile(
    rf"\A[\s*\"'(\[]*{_BOOL.format('word1')}(?=[\s*]*(?:[.,!:;)\]\"']|$)|\s+(?-i:[a-z]))"  # "No, ..."
    rf"|^[ \t*\"'(\[]*{_BOOL.format('word2')}[ \t.!*\"')\]]*$"  # a line holding only the word
    rf"|\b(?:so|thus|therefore|hence|overall|in conclusion|in short|in summary)\b,?\s+{_HEDGE}"
    rf"{_BOOL.format('word3')}(?=\s*(?:[.!,;)*]|$))"
    # an opinion: "I believe this to be false", "I would say "true"", "I think the statement is true"
    rf"|{_OPINION}\s+(?:that\s+)?(?:{_SUBJECT}(?:\s+statement|\s+claim)?\s+(?:{_COPULA}\s+|to be\s+))?"
    rf"[\"'“*]{{0,3}}{_HEDGE}{_BOOL.format('opinion')}{_BEND}"
    # a hedged statement: "so it is likely false", "the statement is true."
    rf"|\b{_SUBJECT}(?:\s+statement|\s+claim)?\s+{_COPULA}\s+[\"'“*]{{0,3}}{_HEDGE}(?P<stated>true|false){_BEND}"
    # a labelled explanation that opens with the verdict: "Explanation: False. Mosquitoes ..."
    rf"|\b(?:explanation|reasoning|response|reply)\s*:[\s*\"']{{0,6}}{_BOOL.format('explained')}"
    r"(?=[\s*\"']*[.!,;:])",
    re.IGNORECASE | re.MULTILINE,
)
# words before a verdict (same clause) that make it no verdict: "I don't think it is true", "if this is true"
NOT_A_VERDICT_RE = re.compile(r"\b(?:not|never|doubt|whether|if|unless|cannot|nor)\b|n['’]t\b", re.IGNORECASE)
CLAUSE_END_RE = re.compile(r"[.!?;\n]")
TO_BOOL = {"yes": "true", "true": "true", "no": "false", "false": "false"}

# ---- choice ------------------------------------------------------------------------------------------------

_LINK = r"because|since|as|is|are|was|were|which|would|should|could|might|must|can|seems|appears|and|or"
# a letter, not the first of a list ("A or B", "A/B", "A, B, C", "A, B or C")
_OTHER = r"\s*(?-i:\([A-Ea-e]\)|[A-E]\b)"
_NOT_LIST = rf"(?!\)?\s*(?:/|\bor\b|\band\b){_OTHER})(?!\)?\s*,{_OTHER}\)?\s*(?:,|\bor\b|\band\b))"
LETTER = rf"(?-i:\((?P<low>[a-zA-Z])\)|(?P<up>[A-Z])\b(?!['’])(?!\s+(?!(?:{_LINK})\b)[a-z])){_NOT_LIST}"
_CFILL = r"[\s*:=\"'(\[{]{0,12}(?:\\boxed\{|\\text\{)?(?:(?:option|choice|letter|answer)\s+)?"
_DECIDE_VERB = (
    r"(?:choose|chose|pick|picked|select|selected|go with|going with|went with|opt for|opted for|vote for|"
    r"settle on|settle for|lean towards?|prefer|favou?r|mark|circle|say|answer)"
)
# a decision: "I would choose D", "I'd go with (B)", "... and pick B"; the letter comes right after the verb
_DECISION = (
    rf"(?:\b(?:I|we)(?:'d|'ll|'m|'ve| would| will| shall| must| should| am| have| do| can)?"
    r"(?:\s+(?:definitely|probably|personally|therefore|thus|then|now|rather|instead|also|still|going to|"
    rf"have to|would|finally))*\s+|\b(?:let's|and|then|instead,?)\s+(?:then\s+)?){_DECIDE_VERB}\b"
)
# a decision noun: "my choice is C", "the best option is A", "My pick: D", "my final selection would be B"
_DECISION_NOUN = (
    r"\b(?:option|choice|pick|selection|decision|bet|guess|vote)\s*"
    rf"(?:{VERB}\b|would have to be\b|:|-|=)"
)
CHOICE_EXPLICIT_RE = re.compile(
    rf"(?:\banswer\b(?:[^.:,;\n]{{0,60}}?\b{VERB}\b)?|{_DECISION_NOUN}|{_DECISION}|\\boxed\{{){_CFILL}{LETTER}",
    re.IGNORECASE,
)
CHOICE_ENDORSE_RE = re.compile(
    rf"\b(?:option|choice)\s*{LETTER}\)?\s+(?:{VERB}|seems|appears)\s+(?:to be\s+)?(?:the\s+)?"
    r"(?:correct|right|best|true|most)",
    re.IGNORECASE,
)
CHOICE_START_RE = re.compile(
    r"\A[\s*\"'(\[]*(?:option\s+)?(?:\((?P<low>[a-zA-Z])\)|\(?(?P<up>[A-Z])(?:\s*[.):]|[*\])]*\s*(?:\n|$)))"
)
LABEL_RE = re.compile(r"^[ \t]*\(?([A-Z])[.)]", re.MULTILINE)
OPTION_RE = re.compile(rf"\b(?:option|choice)\s*{LETTER}", re.IGNORECASE)
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")
WORD_RE = re.compile(r"[a-z0-9]+")

# ---- questions of the reply's own --------------------------------------------------------------------------

# a line opening a question the student poses itself: "Question 2: ...", "Q3.", "2. Does the game ...?",
# "Here's another question: ...", "Follow-up problem", "True or False: <a statement>"
SUBQUESTION_RE = re.compile(
    r"^[ \t*#>]*(?:"
    r"(?:sub-?)?(?:question|problem|q)[ \t]*#?[ \t]*\d{1,2}\b"
    r"|true[ \t]+or[ \t]+false[ \t]*:"
    r"|\(?\d{1,2}[.)][ \t]+[^\n]{3,300}\?[ \t*]*$"
    r"|[^\n]{0,40}\b(?:another|next|new|follow-?up|bonus|related|similar|additional|extra)[ \t]+"
    r"(?:question|problem)\b"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
# an answer given in a section: "Answer: ...", "the answer is ...", "#### 5", "\boxed{5}", "Conclusion: no"
ANSWER_MARK_RE = re.compile(
    rf"\b(?:final\s+)?answer\b[^\n]{{0,40}}?(?:\bis\b|:)|####|\\boxed\{{|\b{_LABEL}\b\s*:", re.IGNORECASE
)
RESULT_RE = re.compile(rf"= ?{_CUR}{NUM}")  # a worked result ("3 + 4 = 7")
QUESTION_SENTENCE_RE = re.compile(r"[^.!?\n]*\?")
