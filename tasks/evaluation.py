"""Stage 5, evaluation, in Prefect: student_k+1 answers the test split (greedy unless configured), through
the same `student-answers` tasks as inference (tasks/inference.py); the accuracy tables and plot are the
report stage's (tasks/report.py)."""

from __future__ import annotations

from fair_core.config import FairConfig
from fair_core.refs import ModelRef, PromptsRef, RoundRef, TableRef
from tasks.inference import answer_table, generation_params, prepare_examples


def evaluation_stage(config: FairConfig, where: RoundRef, trained: ModelRef) -> TableRef | None:
    """student_k+1 on the test split into the round's `evaluation` table (None when evaluation is off)."""
    if not config.evaluation.enabled:
        return None
    prompts = PromptsRef(config.prompts.template_dir)
    test = prepare_examples(config.dataset, config.dataset.test_split, where, "test_examples")
    params = generation_params(config, evaluation=True)
    return answer_table(config.student, trained, test, prompts, params, where, "evaluation")
