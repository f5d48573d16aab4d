"""Statistics for reported accuracies: Wilson intervals, paired comparisons (McNemar), spread over seeds."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Confidence level of every interval the reports show.
CONFIDENCE = 0.95
#: The paired bootstrap's resamples and seed (fixed: the same tables give the same interval every time).
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Proportion:
    """k successes out of n: the rate and its interval (None when n is 0), and the interval's method."""

    k: int
    n: int
    rate: float | None
    low: float | None
    high: float | None
    method: str = "wilson"


@dataclass(frozen=True)
class Paired:
    """Two systems on the same questions: a = the reference, b = the other one.

    `fixed`: wrong in a, right in b; `broken`: right in a, wrong in b. `difference` = accuracy(b) -
    accuracy(a) with its interval (`method`); `p_value`: McNemar's exact test (two-sided binomial on the
    discordant pairs). `only_a` / `only_b`: questions answered by one side alone (left out)."""

    n: int
    fixed: int
    broken: int
    both_right: int
    both_wrong: int
    accuracy_a: float | None
    accuracy_b: float | None
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    method: str
    test: str = "McNemar exact"
    only_a: int = 0
    only_b: int = 0


@dataclass(frozen=True)
class Spread:
    """Values over seeds: their count, mean, sample standard deviation (ddof=1) and a t interval of the
    mean; std and interval are None for fewer than two values (mean None for none)."""

    n: int
    mean: float | None
    std: float | None
    low: float | None
    high: float | None
    method: str = "t"


def proportion(k: int, n: int, confidence: float = CONFIDENCE) -> Proportion:
    """k out of n with its Wilson score interval (statsmodels' `proportion_confint`, method "wilson")."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"proportion: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Proportion(0, 0, None, None, None)
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    return Proportion(int(k), int(n), k / n, float(low), float(high))


def of_rows(rows: Sequence[Mapping[str, object]], confidence: float = CONFIDENCE) -> Proportion:
    """The share of answer rows whose `correct` is true, as a Proportion."""
    return proportion(sum(bool(r["correct"]) for r in rows), len(rows), confidence)


def _bootstrap(a: Sequence[bool], b: Sequence[bool], confidence: float) -> tuple[float, float, str]:
    """Paired bootstrap interval of mean(b) - mean(a) (scipy.stats.bootstrap, paired=True, BCa)."""
    import numpy as np
    from scipy.stats import bootstrap

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diffs = y - x
    label = f"paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}"
    if np.all(diffs == diffs[0]):  # every resample gives the same difference
        return float(diffs[0]), float(diffs[0]), f"{label} (all differences equal)"

    def statistic(first: np.ndarray, second: np.ndarray, axis: int = -1) -> np.ndarray:
        return second.mean(axis=axis) - first.mean(axis=axis)

    for method in ("BCa", "percentile"):  # BCa can be undefined on very few discordant pairs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = bootstrap(
                (x, y),
                statistic,
                paired=True,
                vectorized=True,
                n_resamples=BOOTSTRAP_RESAMPLES,
                confidence_level=confidence,
                method=method,
                rng=np.random.default_rng(BOOTSTRAP_SEED),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high, f"{label}, {method}"
    return float("nan"), float("nan"), label


def paired(a: Mapping[str, bool], b: Mapping[str, bool], confidence: float = CONFIDENCE) -> Paired:
    """Compare b with the reference a on the questions both answered (question id -> correct)."""
    from statsmodels.stats.contingency_tables import mcnemar

    common = sorted(set(a) & set(b))
    only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
    xa = [bool(a[q]) for q in common]
    xb = [bool(b[q]) for q in common]
    both_right = sum(x and y for x, y in zip(xa, xb, strict=True))
    both_wrong = sum(not x and not y for x, y in zip(xa, xb, strict=True))
    fixed = sum(not x and y for x, y in zip(xa, xb, strict=True))
    broken = sum(x and not y for x, y in zip(xa, xb, strict=True))
    n = len(common)
    if n == 0:
        return Paired(0, 0, 0, 0, 0, None, None, None, None, None, None, "none", only_a=only_a, only_b=only_b)
    low, high, method = _bootstrap(xa, xb, confidence)
    table = [[both_right, broken], [fixed, both_wrong]]  # rows: a right/wrong; columns: b right/wrong
    p_value = float(mcnemar(table, exact=True).pvalue)
    return Paired(
        n=n,
        fixed=fixed,
        broken=broken,
        both_right=both_right,
        both_wrong=both_wrong,
        accuracy_a=sum(xa) / n,
        accuracy_b=sum(xb) / n,
        difference=(fixed - broken) / n,
        low=low,
        high=high,
        p_value=min(p_value, 1.0),
        method=method,
        only_a=only_a,
        only_b=only_b,
    )


def over_seeds(values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    """Mean, sample standard deviation and Student-t interval of the mean (`scipy.stats.t.interval`)."""
    import numpy as np
    from scipy.stats import t

    data = np.asarray([float(v) for v in values], dtype=float)
    if data.size == 0:
        return Spread(0, None, None, None, None)
    mean = float(data.mean())
    if data.size == 1:
        return Spread(1, mean, None, None, None)
    std = float(data.std(ddof=1))
    if std == 0.0:
        return Spread(int(data.size), mean, 0.0, mean, mean)
    low, high = t.interval(confidence, data.size - 1, loc=mean, scale=std / math.sqrt(data.size))
    return Spread(int(data.size), mean, std, float(low), float(high))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def format_rate(p: Proportion | None, interval: bool = True) -> str:
    """ "62.5% (20/32, 95% CI 45.3-77.1%)"; "-" without a proportion; "n/a (0/0)" for no rows."""
    if p is None:
        return "-"
    if p.rate is None:
        return f"n/a ({p.k}/{p.n})"
    if not interval or p.low is None or p.high is None:
        return f"{_pct(p.rate)}% ({p.k}/{p.n})"
    return f"{_pct(p.rate)}% ({p.k}/{p.n}, 95% CI {_pct(p.low)}-{_pct(p.high)}%)"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def format_difference(d: Paired | None) -> str:
    """ "+6.2 pts (95% CI -3.1 to +15.6; fixed 4, broken 2, McNemar p=0.69, n=32)"; "-" without pairs."""
    if d is None or d.difference is None:
        return "-"
    ci = (
        f"95% CI {_points(d.low)} to {_points(d.high)}; "
        if d.low is not None and d.high is not None and math.isfinite(d.low) and math.isfinite(d.high)
        else ""
    )
    return (
        f"{_points(d.difference)} pts ({ci}fixed {d.fixed}, broken {d.broken}, "
        f"McNemar p={format_p(d.p_value)}, n={d.n})"
    )


def format_p(p: float | None) -> str:
    """A p-value for a table: 3 significant digits, "<0.0001" below that."""
    if p is None:
        return "-"
    return "<0.0001" if p < 1e-4 else f"{p:.3g}"


def format_spread(s: Spread | None, points: bool = False) -> str:
    """ "61.5% ± 2.1 (sd, 3 seeds; 95% CI 56.3-66.7%)" (`points`: a signed difference, "+3.1 pts ± ...");
    one value: "61.5% (1 seed)"; "-" for none."""
    if s is None or s.mean is None:
        return "-"
    num = _points if points else _pct
    unit = " pts" if points else "%"
    if s.std is None or s.low is None or s.high is None:
        return f"{num(s.mean)}{unit} (1 seed)"
    return (
        f"{num(s.mean)}{unit} ± {100 * s.std:.1f} (sd, {s.n} seeds; "
        f"95% CI {num(s.low)} to {num(s.high)}{unit})"
    )
