"""reasoning-gym source: generated questions with numeric answers (`dataset.name: reasoning_gym`).

- `cfg.gym.options` are passed to `reasoning_gym.create_dataset(task, size=..., seed=..., **options)`, except
  `seed`, which is popped and used as the base seed (default 0; independent of the run seed, so a task's
  questions do not change with `run.seed`).
- The training split (`cfg.train_split`) is items 0..train_size-1 generated with the base seed; the test split
  (`cfg.test_split`) uses seed base + 1_000_003. Test questions that also appear in the training set (or twice
  in the test set) are dropped and replaced by the next generated ones, up to `test_size` (bounded search).
- id: "<task>-<split>-<generation index>"; dataset: "reasoning_gym/<task>"; answers must be numeric.
- solution: `metadata["answer_cot"]` without its trailing "#### N" line (gsm_symbolic), else for an item with
  a plain-arithmetic `metadata["expression"]` (chain_sum, basic_arithmetic) "4 - 1 = 3. The answer is 3." when
  the exact value equals the gold answer; otherwise none.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from fair_core.answers import normalize_gold
from fair_core.config import DatasetConfig
from fair_core.datasets.base import (
    DatasetError,
    LoadResult,
    RowError,
    RowSource,
    collect,
    one_line,
    split_limit,
)
from fair_core.datasets.expressions import evaluate, format_number
from fair_core.datasets.limits import input_check
from fair_core.records import Example

TEST_SEED_OFFSET = 1_000_003
TEST_EXTRA = 16  # extra test items tried (beyond 2 x test_size) to replace questions also in train


def _create_dataset(task: str, size: int, seed: int, options: dict[str, Any]) -> Sequence[dict[str, Any]]:
    """The generated items (the only function that touches reasoning-gym)."""
    import reasoning_gym  # lazily: only gym runs need it

    return reasoning_gym.create_dataset(task, size=size, seed=seed, **options)


def _generate(cfg: DatasetConfig, split: str, size: int, seed: int, options: dict[str, Any]) -> Any:
    try:
        return _create_dataset(cfg.gym.task, size, seed, options)
    except Exception as err:  # unknown task, bad options: reasoning-gym raises many kinds
        raise DatasetError(
            f"reasoning_gym task {cfg.gym.task!r} split {split!r} (size {size}, seed {seed}, "
            f"options {options}): cannot generate: {type(err).__name__}: {one_line(err)}"
        ) from err


def _items(dataset: Any, count: int) -> Iterator[tuple[int, Any]]:
    for index in range(count):
        try:
            yield index, dataset[index]
        except Exception as err:  # one broken item is skipped like a malformed row
            yield index, RowError(f"generation failed: item {index}: {type(err).__name__}: {err}")


def _question_key(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("question"), str):
        return " ".join(item["question"].split())
    return None


def load_gym(cfg: DatasetConfig, split: str) -> LoadResult:
    """Generate the training or test split of `cfg.gym.task` (see the module docstring)."""
    gym = cfg.gym
    options = dict(gym.options)
    seed = options.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DatasetError(
            f"reasoning_gym task {gym.task!r}: gym.options.seed must be an integer, got {seed!r}"
        )
    limit = split_limit(cfg, split)
    if split == cfg.train_split:
        train = _generate(cfg, split, gym.train_size, seed, options)
        rows: RowSource = ((i, f"item {i}", item) for i, item in _items(train, gym.train_size))
    elif split == cfg.test_split:
        train = _generate(cfg, cfg.train_split, gym.train_size, seed, options)
        seen = {key for _, item in _items(train, gym.train_size) if (key := _question_key(item)) is not None}
        size = 2 * gym.test_size + TEST_EXTRA
        test = _generate(cfg, split, size, seed + TEST_SEED_OFFSET, options)
        rows = _unseen(_items(test, size), seen)
        limit = gym.test_size if limit is None else min(limit, gym.test_size)
    else:
        raise DatasetError(
            f"reasoning_gym task {gym.task!r}: unknown split {split!r} "
            f"(train_split is {cfg.train_split!r}, test_split is {cfg.test_split!r})"
        )
    convert = functools.partial(gym_example, gym.task, split)
    where = f"reasoning_gym/{gym.task} split {split!r} (seed {seed})"
    return collect(rows, convert, where=where, limit=limit, check=input_check(cfg))


def _unseen(items: Iterator[tuple[int, Any]], seen: set[str]) -> RowSource:
    """Test items whose question is neither in the training set nor earlier in the test set."""
    for index, item in items:
        key = _question_key(item)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        yield index, f"item {index}", item


def gym_example(task: str, split: str, item: Any, index: int) -> Example:
    """One reasoning-gym item -> `Example` (numeric gold), or RowError."""
    row_id = f"{task}-{split}-{index}"
    if not isinstance(item, dict):
        raise RowError(f"not an object: got {type(item).__name__}", row_id)
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise RowError("missing question", row_id)
    raw = item.get("answer")
    try:
        answer = normalize_gold(raw, "numeric")
    except ValueError as err:
        raise RowError(f"unparseable gold answer: {raw!r} ({err})", row_id) from None
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    return Example(
        id=row_id,
        dataset=f"reasoning_gym/{task}",
        question=question.strip(),
        answer=answer,
        kind="numeric",
        solution=gym_solution(metadata, answer),
    )


def gym_solution(metadata: dict[str, Any], answer: str) -> str | None:
    """A worked solution from the item's metadata (see the module docstring), or None."""
    cot = metadata.get("answer_cot")
    if isinstance(cot, str) and cot.strip():
        lines = cot.strip().splitlines()
        if lines and lines[-1].strip().startswith("####"):
            lines = lines[:-1]
        return "\n".join(lines).strip() or None
    expression = metadata.get("expression")
    if not isinstance(expression, str):
        return None
    value = evaluate(expression)
    text = format_number(value) if value is not None else None
    if text is None:
        return None
    try:
        if normalize_gold(text, "numeric") != answer:
            return None
    except ValueError:
        return None
    return f"{expression.strip()} = {text}. The answer is {answer}."
