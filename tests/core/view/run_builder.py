"""A synthetic finished FAIR run written with RunStore (real Parquet): any size, deterministic; used by the
viewer's tests (a few questions) and by bench/view_bench.py (GSM8K-sized)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fair_core.review import select_rationales
from fair_core.store import RunStore

TEACHERS = ("gpt", "gemini", "mixtral")
EVIL = "<img src=x onerror=alert(1)> & <b>not bold</b>"  # model output that must be shown as text
WORDS = "the then so we add apples each total left more step first next number gives answer is".split(" ")  # noqa: SIM905


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def _answer_rows(ids, golds, split, model, accuracy, rng, words) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    rows = []
    for ex_id, gold in zip(ids, golds, strict=True):
        draw = rng.random()
        correct = draw < accuracy
        predicted = gold if correct else (None if draw > 0.95 else str(int(gold) + 1))
        tail = f"Answer: {predicted}" if predicted is not None else "I am not sure."
        rows.append(
            {
                "example_id": ex_id,
                "split": split,
                "model": model,
                "prompt": f"Solve: question {ex_id}",
                "completion": f"{_text(rng, words)} {tail}",
                "completion_tokens": words,
                "predicted": predicted,
                "gold": gold,
                "correct": correct,
            }
        )
    return rows


def _call(
    teacher: str, role: str, ex_id: str, target: str | None, text: str | None, status: str = "ok"
) -> dict[str, Any]:
    return {
        "request_key": f"{teacher}:{role}:{ex_id}:{target}",
        "teacher": teacher,
        "role": role,
        "example_id": ex_id,
        "target": target,
        "provider": "openai",
        "model": f"{teacher}-model",
        "status": status,
        "text": text,
        "prompt_tokens": 120,
        "completion_tokens": 80,
        "latency_s": 0.5,
        "cached": False,
        "attempts": 1,
        "mode": "online",
        "cost_usd": 0.0001,
        "billed_usd": 0.0001,
    }


def build_run(
    data_dir: Path,
    run_id: str = "view-run",
    *,
    n_train: int = 12,
    n_test: int = 6,
    accuracy: Sequence[float] = (0.35, 0.6, 0.75),
    teachers: Sequence[str] = TEACHERS,
    seed: int = 0,
    words: int = 30,
) -> RunStore:
    """A finished run of len(accuracy) - 1 rounds: round k's student answers with accuracy[k] on both
    splits (evaluation of round k with accuracy[k+1]); every mistake gets feedback and a rationale from
    each teacher, every rationale a review by each other teacher, acceptance by the real
    `select_rationales` (mean > 3, gold check), one accepted rationale and one feedback sample per mistake.
    Round 0's first mistake's first rationale contains EVIL."""
    rng = random.Random(seed)
    run = RunStore(data_dir, run_id)
    run.save_config(
        {
            "run": {"name": "view", "rounds": len(accuracy) - 1},
            "teachers": [{"name": t, "model": f"{t}-model"} for t in teachers],
            "review": {"threshold": 3.0, "aggregation": "mean", "gold_check": True, "min_valid_scores": 1},
        }
    )
    train = [f"train-{i:05d}" for i in range(n_train)]
    test = [f"test-{i:05d}" for i in range(n_test)]
    gold = {i: str(rng.randint(2, 200)) for i in train + test}

    def examples(ids: list[str], split: str) -> list[dict[str, Any]]:
        return [
            {
                "id": i,
                "split": split,
                "dataset": "gsm8k",
                "kind": "numeric",
                "question": f"Question {i}: Tom has {int(gold[i]) - 1} apples and finds one more. How many?",
                "answer": gold[i],
                "solution": f"{int(gold[i]) - 1} + 1 = {gold[i]}",
            }
            for i in ids
        ]

    for k in range(len(accuracy) - 1):
        store = run.round(k)
        store.write("examples", examples(train, "train"))
        store.write("test_examples", examples(test, "test"))
        outputs = _answer_rows(
            train, [gold[i] for i in train], "train", f"student_{k}", accuracy[k], rng, words
        )
        store.write("student_outputs", outputs)
        if k == 0:
            base = _answer_rows(test, [gold[i] for i in test], "test", "student_0", accuracy[0], rng, words)
            store.write("baseline_evaluation", base)
        after = _answer_rows(
            test, [gold[i] for i in test], "test", f"student_{k + 1}", accuracy[k + 1], rng, words
        )
        store.write("evaluation", after)
        mistakes = [o for o in outputs if not o["correct"]]
        store.write(
            "mistakes",
            [
                {
                    "example_id": o["example_id"],
                    "student_completion": o["completion"],
                    "student_prediction": o["predicted"],
                    "gold": o["gold"],
                }
                for o in mistakes
            ],
        )
        feedback, rationales, reviews = [], [], []
        calls: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for m in mistakes:
            ex_id = m["example_id"]
            for t in teachers:
                text = f"Feedback from {t}: the student added wrongly. {_text(rng, words)}"
                feedback.append({"example_id": ex_id, "teacher": t, "status": "ok", "text": text})
                calls.setdefault((t, "feedback"), []).append(_call(t, "feedback", ex_id, None, text))
                right = rng.random() < 0.8
                predicted = gold[ex_id] if right else str(int(gold[ex_id]) + 2)
                text = f"Rationale by {t}: {_text(rng, words)} So the answer is {predicted}."
                if k == 0 and ex_id == mistakes[0]["example_id"] and t == teachers[0]:
                    text = f"{EVIL} {text}"
                rationales.append(
                    {
                        "example_id": ex_id,
                        "teacher": t,
                        "status": "ok",
                        "text": text,
                        "predicted": predicted,
                        "gold_ok": right,
                    }
                )
                calls.setdefault((t, "rationale"), []).append(_call(t, "rationale", ex_id, None, text))
            for author in teachers:
                for reviewer in teachers:
                    if reviewer == author:
                        continue
                    score = None if rng.random() < 0.05 else rng.randint(1, 5)
                    mark = score if score else "?"
                    text = f"Review by {reviewer} of {author}: {_text(rng, words // 2)} [{mark}]"
                    reviews.append(
                        {
                            "example_id": ex_id,
                            "author": author,
                            "reviewer": reviewer,
                            "status": "ok",
                            "score": score,
                            "valid": score is not None,
                            "text": text,
                        }
                    )
                    calls.setdefault((reviewer, "review"), []).append(
                        _call(reviewer, "review", ex_id, author, text)
                    )
        store.write("feedback", feedback)
        store.write("rationales", rationales)
        store.write("reviews", reviews)
        acceptance = select_rationales(rationales, reviews, threshold=3.0, require_gold=True)
        store.write("acceptance", acceptance)
        for (t, role), rows in sorted(calls.items()):
            store.write("teacher_calls", rows, part=f"{t}-{role}")
        text_of = {(r["example_id"], r["teacher"]): r["text"] for r in rationales}
        samples, chosen = [], {}
        for a in acceptance:
            if a["accepted"]:
                chosen.setdefault(a["example_id"], a["teacher"])
        for ex_id, t in chosen.items():
            samples.append(
                {
                    "sample_id": f"r-{ex_id}",
                    "task": "rationale",
                    "example_id": ex_id,
                    "teacher": t,
                    "prompt": f"Q {ex_id}",
                    "completion": text_of[(ex_id, t)],
                    "weight": 0.5,
                    "source_round": k,
                }
            )
        for f in feedback[:: len(teachers)]:
            samples.append(
                {
                    "sample_id": f"f-{f['example_id']}",
                    "task": "feedback",
                    "example_id": f["example_id"],
                    "teacher": f["teacher"],
                    "prompt": f"Mistake {f['example_id']}",
                    "completion": f["text"],
                    "weight": 0.5,
                    "source_round": k,
                }
            )
        store.write("training_samples", samples)
        store.set_meta(summary={"round": k})
    return run
