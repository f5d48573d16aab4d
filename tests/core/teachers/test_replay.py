"""Replayed teachers (`provider: replay`): answers from a paper-code reference folder, an imported reference
run or an earlier run's `teacher_calls`, with no key, no cost, nothing sent; missing replies say so."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fair_core.config import ConfigError, FairConfig, TeacherConfig, parse_config
from fair_core.identity import reply_origin
from fair_core.prompts.builder import PromptSet
from fair_core.records import Example
from fair_core.review import parse_score, plan_reviews
from fair_core.store.parquet import RunStore
from fair_core.store.reference import import_reference
from fair_core.teachers.base import ChatRequest, ChatResponse
from fair_core.teachers.caller import PlannedCall, TeacherCaller, call_rows
from fair_core.teachers.cost import price_for
from fair_core.teachers.engine import CallResult
from fair_core.teachers.replay import ReplayError
from fair_core.teachers.replay_provider import NOT_RECORDED, check_replay

PROMPTS = PromptSet()
QUESTIONS = {
    "0": (
        "There are 87 oranges and 290 bananas. If the bananas are put into 2 groups, how big is each?",
        "145",
    ),
    "3": (
        "Jack had 8 pens and Mary had 5 pens. Jack gave 3 pens to Mary. How many pens does Jack have?",
        "5",
    ),
}
EXAMPLES = {
    "chal-1": Example("chal-1", "svamp", QUESTIONS["0"][0], "145"),
    "chal-2": Example("chal-2", "svamp", QUESTIONS["3"][0], "5"),
    "chal-9": Example("chal-9", "svamp", "A shelf holds 12 books. 5 are taken away. How many are left?", "7"),
}
KEYS = ("gpt", "gemini", "mistral")  # the paper code's JSON keys (mistral is our "mixtral")


def write_reference(folder: Path) -> Path:
    """The three paper-code files for two questions, each teacher's rationale with its two review scores."""
    folder.mkdir(parents=True, exist_ok=True)
    base, feedback, rationale = [], [], []
    for qid, (question, gold) in QUESTIONS.items():
        row = {
            "id": int(qid),
            "question": question,
            "gold_answer": gold,
            "student_wrong_pred": "It is 9.",
            "student_wrong_final_answer": "9",
        }
        base.append(row)
        feedback.append(row | {f"{k}_feedback": f"{k} feedback on question {qid}." for k in KEYS})
        rationale.append(
            row
            | {
                "gpt_rationale": [f" gpt works out question {qid}.\nThe answer is {gold}.", 5, 4],
                "gemini_rationale": [f"gemini: so {gold}.", 2, 83],
                "mistral_rationale": [f"mixtral reasons about {qid}: {gold}", 1, 3],
                "correct_rationale": [],
            }
        )
    for role, rows in (("false", base), ("feedback", feedback), ("rationale", rationale)):
        (folder / f"Llama-2-7b-chat-hf_svamp_{role}_round0.json").write_text(json.dumps(rows))
    return folder


def replayed(name: str, source: Path | str, **extra: Any) -> TeacherConfig:
    fields = {"model": f"{name}-model", **extra}
    return TeacherConfig(name=name, provider="replay", replay_source=str(source), **fields)


def write_examples(data_dir: Path, run_id: str = "replaying") -> None:
    """The replaying run's examples table (what prepare-examples writes): the replay reads questions there."""
    rows = [e.to_row() | {"split": "train"} for e in EXAMPLES.values()]
    RunStore(data_dir, run_id).round(0).write("examples", rows)


def call(
    cfg: TeacherConfig, planned: list[PlannedCall], data_dir: Path, run_id: str = "replaying"
) -> list[dict[str, Any]]:
    caller = TeacherCaller(cfg, data_dir=str(data_dir), run_id=run_id)
    outcome = caller.call(planned, f"test-{cfg.name}")
    outcome.check()  # a missing reply is never an exception
    return outcome.calls


def committee_calls(cfg: TeacherConfig, ids: list[str]) -> list[PlannedCall]:
    planned = []
    for i in ids:
        example = EXAMPLES[i]
        planned.append(PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(example)), "rationale", i))
        feedback = PROMPTS.feedback(example, "Answer: 9. Question: " + EXAMPLES["chal-2"].question)
        planned.append(PlannedCall(ChatRequest.for_teacher(cfg, feedback), "feedback", i))
    return planned


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("OPENAI_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY", "DEEPINFRA_API_KEY"):
        monkeypatch.delenv(key, raising=False)


def test_a_reference_teacher_replays_its_recorded_texts_for_free(tmp_path: Path) -> None:
    source = write_reference(tmp_path / "reference")
    gpt = replayed("gpt", source)
    write_examples(tmp_path / "data")
    rows = call(gpt, committee_calls(gpt, ["chal-1", "chal-2", "chal-9"]), tmp_path / "data")
    by = {(r["example_id"], r["role"]): r for r in rows}
    assert by[("chal-1", "rationale")]["text"] == " gpt works out question 0.\nThe answer is 145."
    # each feedback prompt quotes question 3 inside the student's answer: matched by the example's question
    assert by[("chal-1", "feedback")]["text"] == "gpt feedback on question 0."
    assert by[("chal-2", "feedback")]["text"] == "gpt feedback on question 3."
    assert {r["mode"] for r in rows} == {"replay"} and {r["provider"] for r in rows} == {"replay"}
    assert sum(r["cost_usd"] + r["billed_usd"] for r in rows) == 0 and not any(r["cached"] for r in rows)
    missing = [r for r in rows if r["example_id"] == "chal-9"]
    assert [r["status"] for r in missing] == ["error", "error"]
    assert all(r["text"] is None and r["error"].startswith(f"{NOT_RECORDED} {source}") for r in missing)
    assert not (tmp_path / "data" / "cache").exists()  # nothing cached, nothing spent: the recording is all
    real = ChatRequest.for_teacher(
        TeacherConfig(name="gpt", model="gpt-model"), PROMPTS.rationale(EXAMPLES["chal-1"])
    )
    assert by[("chal-1", "rationale")]["request_key"] != real.key()
    assert price_for(gpt).cost(10**6, 10**6) == 0
    # a caller without the run's examples: the first recorded question in the messages
    elsewhere = call(gpt, committee_calls(gpt, ["chal-1", "chal-9"]), tmp_path / "data", run_id="other")
    assert [r["text"] for r in elsewhere][:2] == [
        by[("chal-1", "rationale")]["text"],
        "gpt feedback on question 0.",
    ]
    assert elsewhere[2]["status"] == "error"


def test_reviews_are_rebuilt_from_the_recorded_scores_of_the_recorded_text(tmp_path: Path) -> None:
    source = write_reference(tmp_path / "reference")
    # our names differ from the recording's: the graded author is found by its recorded text
    committee = {"a": "gpt", "b": "gemini", "c": "mixtral"}
    cfgs = {n: replayed(n, source, replay_teacher=t) for n, t in committee.items()}
    rationales = []
    for cfg in cfgs.values():
        rows = call(cfg, committee_calls(cfg, ["chal-1"]), tmp_path / "data")
        rationales += [r for r in rows if r["role"] == "rationale"]
    rationales.append({"example_id": "chal-2", "teacher": "b", "text": "A rationale nobody recorded: 5."})
    scores = {}
    for name, cfg in cfgs.items():
        for row in call(cfg, plan_reviews(cfg, EXAMPLES, rationales, PROMPTS), tmp_path / "data"):
            scores[(row["example_id"], row["target"], name)] = parse_score(row["text"])
            if row["status"] == "ok":
                assert "Reconstructed from the score" in row["text"]
    # the paper code's order: gpt is reviewed by gemini then mixtral, gemini by gpt then mixtral, ...
    assert scores[("chal-1", "a", "b")] == 5 and scores[("chal-1", "a", "c")] == 4
    assert scores[("chal-1", "b", "a")] == 2 and scores[("chal-1", "b", "c")] == 83  # kept, judged invalid
    assert scores[("chal-1", "c", "a")] == 1 and scores[("chal-1", "c", "b")] == 3
    assert scores[("chal-2", "b", "a")] is None and scores[("chal-2", "b", "c")] is None


def test_an_imported_reference_run_replays_the_same_texts(tmp_path: Path) -> None:
    source = write_reference(tmp_path / "reference")
    data = tmp_path / "data"
    import_reference(source, RunStore(data, "reference-svamp").round(0))
    from_json = replayed("gemini", source)
    from_run = replayed("gemini", "reference-svamp")  # a run id in run.data_dir
    planned = committee_calls(from_json, ["chal-1", "chal-2"])
    again = committee_calls(from_run, ["chal-1", "chal-2"])
    texts = [r["text"] for r in call(from_json, planned, data)]
    assert texts == [r["text"] for r in call(from_run, again, data)]
    assert "gemini: so 145." in texts and None not in texts


def record_a_run(data: Path) -> tuple[Path, dict[int, list[dict[str, Any]]]]:
    """A simulated run's recorded rationale calls in two rounds (round k asked with sample k), its rows
    made by the caller's own `call_rows`, and its config (the simulator's origin is in its request keys)."""
    config = parse_config(
        {
            "run": {"name": "recorded", "data_dir": str(data)},
            "teachers": [
                {"name": "gpt", "model": "m", "price_input_per_mtok": 2.0},
                {"name": "gem", "model": "g"},
            ],
            "simulator": {"enabled": True},
        }
    )
    store, origin = RunStore(data, config.run_id()), reply_origin(config)
    store.save_config(config.model_dump(mode="json"))
    rows = {}
    for k in (0, 1):
        planned = [
            PlannedCall(
                replace(
                    ChatRequest.for_teacher(config.teachers[0], PROMPTS.rationale(e), sample=k), origin=origin
                ),
                "rationale",
                e.id,
            )
            for e in EXAMPLES.values()
        ]
        replies = [ChatResponse(f"round {k} rationale for {p.example_id}", prompt_tokens=9) for p in planned]
        results = [CallResult(p.request, r, False, 1) for p, r in zip(planned, replies, strict=True)]
        rows[k] = call_rows(planned, results, {"gpt": price_for(config.teachers[0])})
        store.round(k).write("teacher_calls", rows[k], part="rationale-gpt")
    return store.root, rows


def test_an_earlier_runs_teacher_calls_are_replayed_by_request_then_by_question(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source, rows = record_a_run(data)

    def texts(cfg: TeacherConfig, role: str = "rationale", sample: int = 0) -> list[str | None]:
        planned = [
            PlannedCall(ChatRequest.for_teacher(cfg, PROMPTS.rationale(e), sample=sample), role, e.id)
            for e in EXAMPLES.values()
        ]
        return [r["text"] for r in call(cfg, planned, data)]

    gpt = replayed("gpt", source, model="m")
    for k in (0, 1):  # the same requests as round k asked: round k's replies, by their exact keys
        assert texts(gpt, sample=k) == [r["text"] for r in rows[k]]
    other = replayed("gpt", source, model="m", temperature=0.1)  # another request about the same questions
    assert texts(other, sample=1) == [r["text"] for r in rows[0]]  # by question: the earliest round
    assert texts(replayed("gpt", source, model="m", temperature=0.1, replay_round=1)) == [
        r["text"] for r in rows[1]
    ]
    assert texts(gpt, role="feedback") == [None] * len(EXAMPLES)  # the run asked for no feedback
    assert texts(replayed("gpt", source.name, model="m")) == [r["text"] for r in rows[0]]  # a run id
    replayed_rows = call(
        gpt,
        [
            PlannedCall(
                ChatRequest.for_teacher(gpt, PROMPTS.rationale(EXAMPLES["chal-1"])), "rationale", "chal-1"
            )
        ],
        data,
    )
    assert replayed_rows[0]["billed_usd"] == rows[0][0]["billed_usd"] > 0 == replayed_rows[0]["cost_usd"]


def test_replay_errors_are_one_line_before_any_work(tmp_path: Path) -> None:
    source = write_reference(tmp_path / "reference")

    def config(*teachers: dict[str, Any], **sections: Any) -> FairConfig:
        return parse_config(
            {"run": {"data_dir": str(tmp_path / "data")}, "teachers": list(teachers), **sections}
        )

    ok = [
        {"name": n, "provider": "replay", "model": n, "replay_source": str(source)} for n in ("gpt", "gemini")
    ]
    check_replay(config(*ok))
    with pytest.raises(ConfigError, match="provider replay needs replay_source"):
        config({"name": "gpt", "provider": "replay", "model": "m"}, ok[1])
    cases = {
        "no such folder": config({**ok[0], "replay_source": str(tmp_path / "nowhere")}, ok[1]),
        "has no teacher 'claude' .it has gemini, gpt, mixtral.": config({**ok[0], "name": "claude"}, ok[1]),
        "set but provider is 'openai'": config({"name": "gpt", "model": "m", "replay_source": "x"}, ok[1]),
        "turn simulator.enabled off": config(*ok, simulator={"enabled": True}),
        "no recorded replies": config({**ok[0], "replay_source": str(tmp_path)}, ok[1]),
    }
    for message, bad in cases.items():
        with pytest.raises(ReplayError, match=message) as err:
            check_replay(bad)
        assert "\n" not in str(err.value)


def test_preflight_needs_no_key_nor_sdk_for_replayed_teachers(tmp_path: Path) -> None:
    from flows.preflight import preflight
    from tests.tiny import tiny_dataset

    source = write_reference(tmp_path / "reference")
    teachers = [
        {"name": "gpt", "provider": "replay", "model": "gpt-3.5-turbo", "replay_source": str(source)},
        {"name": "gemini", "provider": "replay", "model": "gemini-1.0-pro", "replay_source": str(source)},
    ]
    config = parse_config(
        {"run": {"data_dir": str(tmp_path / "data")}, "dataset": tiny_dataset(), "teachers": teachers}
    )
    preflight(config)  # no OPENAI_API_KEY / GEMINI_API_KEY, no google-genai needed
    other = parse_config({"teachers": [{**teachers[0], "replay_source": "elsewhere"}, teachers[1]]})
    assert other.config_hash() != config.config_hash()  # the recording is part of the run's identity
    first = ChatRequest.for_teacher(config.teachers[0], PROMPTS.rationale(EXAMPLES["chal-1"]))
    second = ChatRequest.for_teacher(other.teachers[0], PROMPTS.rationale(EXAMPLES["chal-1"]))
    assert first.origin.startswith("replay:") and first.key() != second.key()
