"""Agreement between reviewers: Krippendorff's alpha (ordinal, scores 1..5) over a reviewers x rationales
matrix, overall, per reviewer pair and with one reviewer left out (the `krippendorff` package)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

from fair_core.review import MAX_SCORE, MIN_SCORE
from fair_core.stats import Proportion, proportion

#: Scores live on an ordinal 1..5 scale: the metric and the value domain of every alpha here.
LEVEL = "ordinal"
DOMAIN = tuple(range(MIN_SCORE, MAX_SCORE + 1))

#: One rationale reviewed: (example_id, author).
Unit = tuple[str, str]


def krippendorff_alpha(
    matrix: Sequence[Sequence[float | None]], level: str = LEVEL, domain: Sequence[float] | None = DOMAIN
) -> float | None:
    """Krippendorff's alpha of a raters x units matrix (None = no value); None when undefined: no unit
    has two values, or every value is the same (no disagreement is possible, so none is expected)."""
    import krippendorff
    import numpy as np

    data = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix], dtype=float)
    if data.size == 0 or not ((~np.isnan(data)).sum(axis=0) >= 2).any():
        return None
    paired = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    if len(set(paired[~np.isnan(paired)].tolist())) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = krippendorff.alpha(
            reliability_data=data,
            level_of_measurement=level,
            value_domain=None if domain is None else list(domain),
        )
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class PairAgreement:
    """Two reviewers on the rationales both scored validly: alpha and how often the scores are equal."""

    a: str
    b: str
    units: int
    alpha: float | None
    same_score: Proportion


@dataclass(frozen=True)
class Agreement:
    """Alpha over all reviewers (`units`: rationales with at least two valid scores), per pair, and per
    reviewer with its scores left out (`without`: alpha rises when a reviewer disagrees with the rest)."""

    alpha: float | None
    units: int
    pairs: list[PairAgreement]
    without: dict[str, float | None]


def _matrix(scores: Mapping[str, Mapping[Unit, float]], raters: Sequence[str]) -> list[list[float | None]]:
    units = sorted({u for r in raters for u in scores.get(r, {})})
    return [[scores.get(r, {}).get(u) for u in units] for r in raters]


def agreement(scores: Mapping[str, Mapping[Unit, float]]) -> Agreement:
    """Agreement of the valid scores `scores[reviewer][(example_id, author)]`."""
    raters = sorted(scores)
    counts: dict[Unit, int] = {}
    for r in raters:
        for unit in scores[r]:
            counts[unit] = counts.get(unit, 0) + 1
    pairs = []
    for a, b in combinations(raters, 2):
        common = sorted(set(scores[a]) & set(scores[b]))
        same = sum(scores[a][u] == scores[b][u] for u in common)
        alpha = krippendorff_alpha([[scores[a][u] for u in common], [scores[b][u] for u in common]])
        pairs.append(PairAgreement(a, b, len(common), alpha, proportion(same, len(common))))
    without = {r: krippendorff_alpha(_matrix(scores, [x for x in raters if x != r])) for r in raters}
    return Agreement(
        krippendorff_alpha(_matrix(scores, raters)),
        sum(n >= 2 for n in counts.values()),
        pairs,
        without,
    )
