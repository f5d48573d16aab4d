"""The two cards of an export: the dataset card (README.md beside data/) and the student's model card
(model/README.md), each with the YAML metadata the Hugging Face Hub reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from fair_core.export.dataset import COLUMNS, TRAIN_GLOB
from fair_core.export.facts import (
    acceptance_by_teacher,
    accuracy_rows,
    code_versions,
    committee_rows,
    rate_text,
    size_category,
    table,
    templates_used,
)
from fair_core.export.source import ExportSource, public_config
from fair_core.training.card import CARD_TAGS, card_body, front_matter, hub_metadata
from fair_core.training.round import card_facts

PAPER = "https://arxiv.org/abs/2410.03663"
CONFIG_FILE = "fair_config.yaml"


@dataclass(frozen=True)
class Names:
    """Where the export will live on the Hub (None: not known, e.g. a local export)."""

    model_repo: str | None = None
    dataset_repo: str | None = None
    license: str = "other"


def dataset_label(source: ExportSource) -> str:
    """The run's task as the dataset tables name it (e.g. `reasoning_gym/chain_sum`, `gsm8k`)."""
    return str(source.summaries[source.rounds[0]].get("dataset") or source.config.dataset.name)


def config_yaml(source: ExportSource) -> str:
    """The run's config as YAML, secrets redacted (keys are only ever named, by env var or Secret block)."""
    return yaml.safe_dump(public_config(source.config_data), sort_keys=True, allow_unicode=True)


def dataset_card(
    source: ExportSource, rows: Sequence[Mapping[str, Any]], names: Names, location: str = "path/to/folder"
) -> str:
    """README.md of the distilled dataset: metadata (configs/data_files, license, task, tags, size), then the
    run, the columns, the committee, acceptance per teacher, the prompts, the config, the code version.
    `location`: the folder the load snippet names when the dataset has no Hub repo."""
    label = dataset_label(source)
    meta = {
        "license": names.license,
        "pretty_name": f"FAIR distilled data: {source.run_id}",
        "task_categories": ["text-generation"],
        "tags": [*CARD_TAGS, "synthetic", label.replace("/", "-")],
        "size_categories": [size_category(len(rows))],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": TRAIN_GLOB}]}],
    }
    tasks = Counter(r["task"] for r in rows)
    teachers = Counter(r["teacher"] for r in rows)
    where = names.dataset_repo or location
    student = names.model_repo or "the `model/` folder of this export"
    lines = [
        f"# FAIR distilled data: {source.run_id}",
        "",
        f"What a committee of teacher LLMs wrote for the mistakes of a small student on **{label}**, kept by"
        f" peer review, in the FAIR run `{source.run_id}` ([Learning from Committee]({PAPER})): one row per"
        f" training sample the student ({student}) was fine-tuned on, rounds"
        f" {source.rounds[0]}-{source.final_round}.",
        "",
        f"- {len(rows)} samples: {tasks.get('rationale', 0)} rationale (learn from the gold rationale),"
        f" {tasks.get('feedback', 0)} feedback (learn from your own mistakes)",
        "- by teacher: " + (", ".join(f"{t} {n}" for t, n in sorted(teachers.items())) or "-"),
        f"- student: `{source.config.student.model}`; run id `{source.run_id}`",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'train = load_dataset("{where}", split="train")',
        "```",
        "",
        "## Columns",
        "",
        *table([{"column": n, "meaning": m} for n, (_, m) in COLUMNS.items()], ["column", "meaning"]),
        "",
        "## The committee",
        "",
        *table(committee_rows(source), ["teacher", "provider", "model", "endpoint", "temperature", "mode"]),
        "",
        f"A rationale is kept when the {source.config.review.aggregation} of its valid peer-review scores"
        f" is above {source.config.review.threshold:g}"
        + (" and its own final answer matches the gold one" if source.config.review.gold_check else "")
        + ".",
        "",
        "## Acceptance per teacher",
        "",
        *table(
            [{**r, "accepted / reviewed": rate_text(r["rate"])} for r in acceptance_by_teacher(source)],
            ["round", "teacher", "accepted / reviewed"],
        ),
        "",
        "## Prompts",
        "",
    ]
    for name, origin, text in templates_used(source):
        lines += [f"### `{name}` ({origin})", "", "```jinja", text, "```", ""]
    versions = code_versions(source)
    lines += [
        "## Run",
        "",
        f"- run id: `{source.run_id}`, rounds exported: {', '.join(map(str, source.rounds))}",
        f"- code version (fair-distill): run {versions['run']}; export {versions['export']}",
        f"- config (also in `{CONFIG_FILE}`; API keys are never in it: teachers name an environment"
        " variable or a Prefect Secret block):",
        "",
        "<details><summary>the run's config</summary>",
        "",
        "```yaml",
        config_yaml(source).rstrip("\n"),
        "```",
        "",
        "</details>",
        "",
    ]
    return front_matter(meta) + "\n" + "\n".join(lines)


def model_index(source: ExportSource, name: str) -> list[dict[str, Any]]:
    """The `model-index` metadata: test accuracy after each exported round (the base student's is in the
    card's text, not here: it is not this model's result), with n, correct and the 95% Wilson interval in
    `args`."""
    label = dataset_label(source)
    results = []
    for row in accuracy_rows(source):
        if row["round"] is None:
            continue
        rate = row["rate"]
        metric = {
            "type": "accuracy",
            "value": round(float(rate.rate), 4),
            "name": f"test accuracy, {row['label']} (n={rate.n})",
            "args": {
                "n": rate.n,
                "correct": rate.k,
                "ci95_wilson": [round(rate.low, 4), round(rate.high, 4)],
            },
            "verified": False,
        }
        results.append(
            {
                "task": {"type": "text-generation", "name": "question answering"},
                "dataset": {"type": label, "name": f"{label} ({row['label']})", "split": "test"},
                "metrics": [metric],
            }
        )
    return [{"name": name, "results": results}]


def student_card(
    source: ExportSource,
    record: Mapping[str, Any],
    names: Names,
    facts: Mapping[str, Any],
    location: str = "path/to/folder",
) -> str:
    """model/README.md: Hub metadata (base_model, library_name, datasets, pipeline_tag, tags, model-index),
    then the training card's text and the accuracy per round. `facts`: base_reference, hub_id, chat;
    `location`: the folder the load snippet names when the student has no Hub repo."""
    training = source.config.training
    assert source.model_round is not None
    build = source.run.round(source.model_round).manifest().get("stages", {}).get("build-training-set", {})
    info = card_facts(source.config.student, source.model_round, build)
    info |= dict(facts) | {"location": names.model_repo or location}
    info["title"] = f"FAIR student of run {source.run_id} (round {source.model_round})"
    name = (names.model_repo or source.run_id).split("/")[-1]
    datasets = [names.dataset_repo] if names.dataset_repo else []
    meta = {"license": names.license, **hub_metadata(training.method, facts.get("hub_id"), datasets)}
    meta["model-index"] = model_index(source, name)
    evaluation = [{"": r["label"], "test accuracy": rate_text(r["rate"])} for r in accuracy_rows(source)]
    data = (
        f"[{names.dataset_repo}](https://huggingface.co/datasets/{names.dataset_repo})"
        if (names.dataset_repo)
        else "the export's own folder (its README.md is the dataset card)"
    )
    lines = [
        card_body(record, training, info).rstrip("\n"),
        "",
        "## Evaluation",
        "",
        f"Greedy answers on the test split of {dataset_label(source)}; 95% Wilson intervals.",
        "",
        *table(evaluation, ["", "test accuracy"]),
        "",
        "## Provenance",
        "",
        f"- FAIR run `{source.run_id}`, student of round {source.model_round}"
        f" (rounds exported: {', '.join(map(str, source.rounds))})",
        f"- training data: {data}",
        "- committee: "
        + ", ".join(f"{r['teacher']} ({r['provider']}, {r['model']})" for r in committee_rows(source)),
        f"- code version: {code_versions(source)['export']}",
        "",
    ]
    return front_matter(meta) + "\n" + "\n".join(lines)
