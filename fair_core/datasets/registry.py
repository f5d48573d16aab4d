"""Dataset registry: `load_examples(cfg, split)` picks the Hub, local-file or reasoning-gym loader."""

from __future__ import annotations

from fair_core.config import DatasetConfig
from fair_core.datasets.base import DatasetError, LoadResult


def load_examples(cfg: DatasetConfig, split: str) -> LoadResult:
    """Examples of `split` of the configured dataset, first `train_limit`/`test_limit` valid rows.

    Malformed rows are skipped (listed in `LoadResult.skipped`, one warning logged per file); a missing file,
    an unknown split or an unreachable Hub raises `DatasetError`.
    """
    if not split:
        raise DatasetError(f"{cfg.name}: empty split name")
    if cfg.name == "reasoning_gym":
        from fair_core.datasets.gym import load_gym

        return load_gym(cfg, split)
    if cfg.source == "local":
        from fair_core.datasets.local import load_local

        return load_local(cfg, split)
    from fair_core.datasets.hub import load_hub

    return load_hub(cfg, split)
