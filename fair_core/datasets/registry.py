"""Dataset registry: `load_examples(cfg, split)` picks the Hub, local-file, reasoning-gym or custom loader."""

from __future__ import annotations

from fair_core.config import DatasetConfig
from fair_core.datasets.base import DatasetError, LoadResult, report_skipped


def load_examples(cfg: DatasetConfig, split: str, *, report: bool = True) -> LoadResult:
    """Examples of `split` of the configured dataset, first `train_limit`/`test_limit` valid rows.

    Malformed rows, undecodable lines and examples over `max_input_tokens` are skipped (or, with `too_long:
    truncate`, shortened), listed in `LoadResult.skipped` / `.truncated` and, with `report`, logged in one
    warning; a missing or empty file, an unknown split, a bad reasoning-gym task or an unreachable Hub raises
    `DatasetError` (a one-line `ConfigError`).
    """
    if not split:
        raise DatasetError(f"{cfg.name}: empty split name")
    if cfg.name == "custom":
        from fair_core.datasets.custom import load_custom

        result = load_custom(cfg, split)
    elif cfg.name == "reasoning_gym":
        from fair_core.datasets.gym import load_gym

        result = load_gym(cfg, split)
    elif cfg.source == "local":
        from fair_core.datasets.local import load_local

        result = load_local(cfg, split)
    else:
        from fair_core.datasets.hub import load_hub

        result = load_hub(cfg, split)
    if report:
        report_skipped(result)
    return result
