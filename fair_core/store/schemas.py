"""Declared pyarrow schemas of every table a FAIR round writes."""

from __future__ import annotations

import pyarrow as pa

_S = pa.string()

EXAMPLES = pa.schema(
    [
        ("id", _S),
        ("split", _S),
        ("dataset", _S),
        ("kind", _S),
        ("question", _S),
        ("context", _S),
        ("options", pa.list_(_S)),
        ("answer", _S),
        ("solution", _S),
    ]
)

#: Student answers on the training split (student outputs) or on the test split (evaluation).
GENERATIONS = pa.schema(
    [
        ("example_id", _S),
        ("split", _S),
        ("model", _S),
        ("prompt", _S),
        ("completion", _S),
        ("completion_tokens", pa.int32()),
        ("predicted", _S),
        ("gold", _S),
        ("correct", pa.bool_()),
    ]
)

MISTAKES = pa.schema(
    [
        ("example_id", _S),
        ("student_completion", _S),
        ("student_prediction", _S),
        ("gold", _S),
    ]
)

TEACHER_CALLS = pa.schema(
    [
        ("request_key", _S),
        ("teacher", _S),
        ("role", _S),
        ("example_id", _S),
        ("target", _S),
        ("provider", _S),
        ("model", _S),
        ("status", _S),
        ("text", _S),
        ("error", _S),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()),
        ("cached", pa.bool_()),
        ("attempts", pa.int32()),
        # 'online', 'batch' or 'cache'; cost_usd: paid in this run (0 for a cached reply); billed_usd: what
        # the reply cost when it was obtained (a cached reply keeps its original price here)
        ("mode", _S),
        ("cost_usd", pa.float64()),
        ("billed_usd", pa.float64()),
    ]
)

#: Provider batch jobs a round submitted or resumed (the live records are in the response cache's file).
BATCH_JOBS = pa.schema(
    [
        ("teacher", _S),
        ("job_id", _S),
        ("provider", _S),
        ("state", _S),
        ("n_requests", pa.int64()),
        ("submitted_at", pa.float64()),
        ("finished_at", pa.float64()),
        ("error", _S),
    ]
)

FEEDBACK = pa.schema([("example_id", _S), ("teacher", _S), ("status", _S), ("text", _S)])

RATIONALES = pa.schema(
    [
        ("example_id", _S),
        ("teacher", _S),
        ("status", _S),
        ("text", _S),
        ("predicted", _S),
        ("gold_ok", pa.bool_()),
    ]
)

REVIEWS = pa.schema(
    [
        ("example_id", _S),
        ("author", _S),
        ("reviewer", _S),
        ("status", _S),
        ("score", pa.int32()),
        ("valid", pa.bool_()),
        ("text", _S),
    ]
)

ACCEPTANCE = pa.schema(
    [
        ("example_id", _S),
        ("teacher", _S),
        ("n_valid", pa.int32()),
        ("mean_score", pa.float64()),
        ("gold_ok", pa.bool_()),
        ("accepted", pa.bool_()),
        ("reason", _S),
    ]
)

TRAINING_SAMPLES = pa.schema(
    [
        ("sample_id", _S),
        ("task", _S),
        ("example_id", _S),
        ("teacher", _S),
        ("prompt", _S),
        ("completion", _S),
        ("weight", pa.float64()),
        ("source_round", pa.int32()),  # the round the sample was built in (a cumulative set mixes rounds)
    ]
)

TABLES: dict[str, pa.Schema] = {
    "examples": EXAMPLES,
    "test_examples": EXAMPLES,
    "student_outputs": GENERATIONS,
    "mistakes": MISTAKES,
    "teacher_calls": TEACHER_CALLS,
    "batch_jobs": BATCH_JOBS,
    "feedback": FEEDBACK,
    "rationales": RATIONALES,
    "reviews": REVIEWS,
    "acceptance": ACCEPTANCE,
    "training_samples": TRAINING_SAMPLES,
    "evaluation": GENERATIONS,
    "baseline_evaluation": GENERATIONS,
    # `evaluation.seeds`: every seed's answers, one part `seed-<seed>` each
    "evaluation_seeds": GENERATIONS,
    "baseline_evaluation_seeds": GENERATIONS,
}
