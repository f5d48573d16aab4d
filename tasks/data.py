"""Prefect task: load a dataset split (Hub, local files or reasoning-gym) into a round's examples table."""

from __future__ import annotations

from prefect import task

from fair_core.config import DatasetConfig
from fair_core.datasets import load_examples
from fair_core.refs import RoundRef, TableRef
from tasks.caching import content_cache_key
from tasks.logs import task_logger


@task(
    name="prepare-examples",
    cache_key_fn=content_cache_key,
    persist_result=True,
    retries=2,
    retry_delay_seconds=5,
)
def prepare_examples(dataset: DatasetConfig, split: str, where: RoundRef, table: str) -> TableRef:
    """Load `split`, report malformed rows (skipped, with their ids), write the table."""
    logger = task_logger()
    result = load_examples(dataset, split)
    if result.skipped:
        shown = "; ".join(f"{s.row_id}: {s.reason}" for s in result.skipped[:5])
        logger.warning(
            "%s/%s: skipped %d malformed rows (%s%s)",
            dataset.name,
            split,
            len(result.skipped),
            shown,
            " ..." if len(result.skipped) > 5 else "",
        )
    if not result.examples:
        raise ValueError(f"dataset {dataset.name} split {split!r}: no valid rows")
    where.store().write(table, [e.to_row() | {"split": split} for e in result.examples])
    logger.info("%s/%s: %d examples", dataset.name, split, len(result.examples))
    return where.table(table)
