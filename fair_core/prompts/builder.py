"""Prompt builders for every FAIR step, rendered from Jinja template files a user can replace."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2

from fair_core.hashing import stable_hash
from fair_core.records import Example, Message

BUILTIN_DIR = Path(str(resources.files("fair_core.prompts").joinpath("templates")))

#: Every template the builders use; a file of the same name in `template_dir` replaces the built-in one.
#: `student_<kind>` and `train_instruction_<kind>` may also be given per dataset as
#: `student_<dataset>.txt` / `train_instruction_<dataset>.txt` (dataset = `Example.dataset` with '/' -> '_',
#: e.g. `student_custom_tiny_qa.txt`). A user checker's kind uses the `exact` templates.
TEMPLATE_NAMES = (
    "student_numeric",
    "student_boolean",
    "student_choice",
    "feedback_system",
    "feedback",
    "review_system",
    "review",
    "train_layout",
    "train_instruction_feedback",
    "train_feedback_input",
    "train_instruction_numeric",
    "train_instruction_boolean",
    "train_instruction_choice",
)

#: The templates of the custom datasets' text kinds (exact, math; a user checker uses exact), replaceable the
#: same way. Kept out of `TEMPLATE_NAMES` so that the fingerprint (a cache key) of every config that existed
#: before them is unchanged; a replaced one counts through the `template_dir` files.
TEXT_KIND_TEMPLATE_NAMES = (
    "student_exact",
    "student_math",
    "train_instruction_exact",
    "train_instruction_math",
)

#: Templates used only when a setting asks for them (`review_author`: `review.show_author`), kept out of
#: `TEMPLATE_NAMES` for the same reason; their effect is in the rendered request itself.
OPTIONAL_TEMPLATE_NAMES = ("review_author",)

LETTERS = "ABCDEFGHIJ"


#: What the teachers' feedback and review prompts give as the hint (`prompts.teacher_hint`).
TEACHER_HINTS = ("answer", "solution")

#: How the student is asked in `answer_prompt`: its own prompt, or a training layout (`evaluation.prompt`).
ANSWER_LAYOUTS = ("student", "instruction")


class PromptError(ValueError):
    """A template is missing or does not render; the message names the template file."""


def options_block(options: tuple[str, ...] | None) -> str:
    return "\n".join(f"{LETTERS[i]}. {text}" for i, text in enumerate(options or ()))


def question_block(example: Example) -> str:
    """The question as teachers see it: with the passage and options for multiple-choice tasks."""
    if example.kind == "choice":
        parts = [f"Passage: {example.context}" if example.context else "", f"Question: {example.question}"]
        parts.append("Options:\n" + options_block(example.options))
        return "\n".join(p for p in parts if p)
    return example.question


def gold_text(example: Example) -> str:
    """The gold answer as a hint: a choice names its letter and its option text."""
    if example.kind == "choice" and example.options:
        index = LETTERS.index(example.answer)
        if index < len(example.options):
            return f"{example.answer}. {example.options[index]}"
    return example.answer


def solution_text(example: Example) -> str:
    """The dataset's worked solution of an example (GSM8K's steps, StrategyQA's facts), or ""."""
    return (example.solution or "").strip()


class PromptSet:
    """Renders student, teacher, reviewer and training prompts from template files.

    `teacher_hint` ("answer" or "solution") is what the feedback and review prompts pass as `solution`
    besides `gold`; `answer_layout` ("student" or "instruction") is how `answer_prompt` asks the student.
    """

    def __init__(
        self,
        template_dir: str | Path | None = None,
        teacher_hint: str = "answer",
        answer_layout: str = "student",
    ) -> None:
        if teacher_hint not in TEACHER_HINTS:
            raise PromptError(f"teacher_hint {teacher_hint!r}: use one of {', '.join(TEACHER_HINTS)}")
        if answer_layout not in ANSWER_LAYOUTS:
            raise PromptError(f"answer_layout {answer_layout!r}: use one of {', '.join(ANSWER_LAYOUTS)}")
        self.teacher_hint = teacher_hint
        self.answer_layout = answer_layout
        self.template_dir = Path(template_dir).expanduser() if template_dir else None
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise PromptError(f"prompts.template_dir {self.template_dir}: folder not found")
        self._env = jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
        )
        self._texts: dict[str, str] = {}
        self._compiled: dict[str, jinja2.Template] = {}

    def _path(self, name: str) -> Path | None:
        for folder in (self.template_dir, BUILTIN_DIR):
            if folder is not None and (folder / f"{name}.txt").is_file():
                return folder / f"{name}.txt"
        return None

    def _text(self, name: str) -> str:
        if name not in self._texts:
            path = self._path(name)
            if path is None:
                raise PromptError(f"template {name}.txt not found in {self.template_dir or BUILTIN_DIR}")
            self._texts[name] = path.read_text(encoding="utf-8").strip("\n")
        return self._texts[name]

    def render(self, name: str, **values: object) -> str:
        try:
            if name not in self._compiled:
                self._compiled[name] = self._env.from_string(self._text(name))
            return self._compiled[name].render(**values).strip()
        except jinja2.TemplateError as err:
            raise PromptError(f"template {name}.txt: {err}") from None

    def _per_dataset(self, prefix: str, example: Example) -> str:
        specific = f"{prefix}_{example.dataset.replace('/', '_')}"
        kind = "exact" if example.kind.startswith("checker:") else example.kind  # a user checker's text
        return specific if self._path(specific) else f"{prefix}_{kind}"

    def fingerprint(self) -> str:
        """Hash of the effective template texts (part of cache keys and the round manifest)."""
        found = {n: self._text(n) for n in TEMPLATE_NAMES}
        if self.template_dir is not None:
            for path in sorted(self.template_dir.glob("*.txt")):
                found[path.stem] = path.read_text(encoding="utf-8")
        # Only settings other than the defaults: the default's fingerprint is the templates' alone.
        if self.teacher_hint != "answer":
            found[":teacher_hint"] = self.teacher_hint
        if self.answer_layout != "student":
            found[":answer_layout"] = self.answer_layout
        return stable_hash(found)

    def _hint(self, example: Example) -> str:
        return solution_text(example) if self.teacher_hint == "solution" else ""

    # --- student and teachers -------------------------------------------------------------------

    def student(self, example: Example) -> str:
        """The student's prompt (plain text; a chat student wraps it in its chat template)."""
        return self.render(
            self._per_dataset("student", example),
            question=example.question,
            context=example.context or "",
            options_block=options_block(example.options),
        )

    def answer_prompt(self, example: Example) -> str:
        """What the student is asked when it answers (inference, evaluation): the student prompt, or with
        `answer_layout="instruction"` exactly the prompt of its learn-from-the-rationale training samples."""
        if self.answer_layout == "student":
            return self.student(example)
        return self.train_rationale_prompt(example, self.answer_layout)

    def rationale(self, example: Example) -> list[Message]:
        """A teacher answers the question itself, step by step, exactly as the student is asked."""
        return [Message("user", self.student(example))]

    def feedback(self, example: Example, student_answer: str) -> list[Message]:
        """A teacher points out the student's mistakes, given a hint with the correct answer (and, with
        teacher_hint "solution", the worked solution)."""
        user = self.render(
            "feedback",
            question_block=question_block(example),
            student_answer=student_answer.strip(),
            gold=gold_text(example),
            solution=self._hint(example),
        )
        return [Message("system", self.render("feedback_system")), Message("user", user)]

    def review(self, example: Example, rationale: str, author: str | None = None) -> list[Message]:
        """A teacher grades another teacher's rationale 1-5, given the correct answer as a hint (and, with
        teacher_hint "solution", the worked solution). The author is not named unless `author` is given
        (`review.show_author`): then `review_author.txt` names it on the first line."""
        user = self.render(
            "review",
            question_block=question_block(example),
            rationale=rationale.strip(),
            gold=gold_text(example),
            solution=self._hint(example),
        )
        if author:
            user = f"{self.render('review_author', author=author)}\n\n{user}"
        return [Message("system", self.render("review_system")), Message("user", user)]

    # --- training samples -----------------------------------------------------------------------

    def train_rationale_prompt(self, example: Example, layout: str = "instruction") -> str:
        """Prompt of the learn-from-the-gold-rationale task: the student prompt or the instruction layout."""
        if layout == "student":
            return self.student(example)
        return self.render(
            "train_layout",
            instruction=self.render(self._per_dataset("train_instruction", example)),
            input=self.student(example),
        )

    def train_feedback_prompt(self, example: Example, student_answer: str) -> str:
        """Prompt of the learn-from-own-mistakes task: question, wrong answer and the correct answer."""
        given = self.render(
            "train_feedback_input",
            question_block=question_block(example),
            student_answer=student_answer.strip(),
            gold=gold_text(example),
        )
        return self.render("train_layout", instruction=self.render("train_instruction_feedback"), input=given)
