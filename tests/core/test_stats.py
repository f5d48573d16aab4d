"""The report statistics against independent values: textbook tables, hand computations, other libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from fair_core.stats import (
    format_difference,
    format_p,
    format_rate,
    format_spread,
    over_seeds,
    paired,
    proportion,
)

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857, Table II,
# method 3 (Wilson score, no continuity correction), to 4 decimals.
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("k", "n", "low", "high"), NEWCOMBE)
def test_wilson_interval_matches_newcombes_table(k: int, n: int, low: float, high: float) -> None:
    p = proportion(k, n)
    assert p.rate == k / n and p.method == "wilson"
    assert round(p.low, 4) == low and round(p.high, 4) == high


def test_wilson_for_the_demo_split_by_hand_and_its_display() -> None:
    p = proportion(20, 32)
    z = sp.norm.ppf(0.975)  # Wilson's formula written out, as a check of the library call
    centre = (0.625 + z * z / 64) / (1 + z * z / 32)
    half = z * math.sqrt(0.625 * 0.375 / 32 + z * z / (4 * 32 * 32)) / (1 + z * z / 32)
    assert p.low == pytest.approx(centre - half, abs=1e-12) and p.high == pytest.approx(centre + half)
    assert format_rate(p) == "62.5% (20/32, 95% CI 45.3-77.1%)"
    assert format_rate(p, interval=False) == "62.5% (20/32)"


def test_proportion_edge_cases() -> None:
    empty = proportion(0, 0)
    assert (empty.rate, empty.low, empty.high) == (None, None, None)
    assert format_rate(empty) == "n/a (0/0)" and format_rate(None) == "-"
    full = proportion(32, 32)
    assert (
        full.rate == 1.0 and full.high == pytest.approx(1.0) and full.low == pytest.approx(0.8928, abs=1e-4)
    )
    with pytest.raises(ValueError, match="k=3, n=2"):
        proportion(3, 2)


def _answers(pattern: str) -> dict[str, bool]:
    return {f"q{i}": c == "1" for i, c in enumerate(pattern)}


def test_paired_transitions_and_mcnemar_exact_by_hand() -> None:
    # a right on q0-q3 and q4; b fixes 5 of a's mistakes and breaks 1 of its right answers
    a = _answers("1111100000000")
    b = _answers("1111011111000")
    d = paired(a, b)
    assert (d.n, d.both_right, d.broken, d.fixed, d.both_wrong) == (13, 4, 1, 5, 3)
    assert d.difference == pytest.approx(4 / 13) and d.accuracy_a == 5 / 13 and d.accuracy_b == 9 / 13
    # exact McNemar: two-sided binomial on the 6 discordant pairs, P(X <= 1 | 6, 1/2) * 2 = 14/64
    assert d.p_value == pytest.approx(14 / 64) and d.test == "McNemar exact"
    assert d.p_value == pytest.approx(sp.binomtest(1, 6, 0.5).pvalue)  # scipy's own binomial test
    assert d.low < d.difference < d.high and "paired bootstrap" in d.method
    assert format_difference(d).startswith("+30.8 pts (95% CI ")
    assert "fixed 5, broken 1, McNemar p=0.219, n=13" in format_difference(d)


def test_mcnemar_on_agrestis_presidential_approval_table() -> None:
    """R's `mcnemar.test` example (Agresti 1990, 1600 people asked twice): 86 approve->disapprove, 150
    disapprove->approve. R's exact version, `binom.test(86, 236)`: p-value = 3.716e-05."""
    a = {f"p{i}": i < 794 + 86 for i in range(1600)}  # first survey: approve
    second = [True] * 794 + [False] * 86 + [True] * 150 + [False] * 570
    b = {f"p{i}": v for i, v in enumerate(second)}
    d = paired(a, b)
    assert (d.both_right, d.broken, d.fixed, d.both_wrong) == (794, 86, 150, 570)
    assert d.p_value == pytest.approx(3.716e-05, rel=1e-3)
    # large n: the bootstrap interval is close to the Wald interval of a paired difference
    n, fixed, broken = 1600, 150, 86
    diff = (fixed - broken) / n
    se = math.sqrt((fixed + broken) / n - diff**2) / math.sqrt(n)
    assert d.low == pytest.approx(diff - 1.96 * se, abs=0.004)
    assert d.high == pytest.approx(diff + 1.96 * se, abs=0.004)


def test_paired_bootstrap_is_scipys_and_repeatable() -> None:
    a = _answers("10110100111010011101")
    b = _answers("11110110111011011100")
    d = paired(a, b)
    x = np.array([a[q] for q in sorted(a)], dtype=float)
    y = np.array([b[q] for q in sorted(b)], dtype=float)
    ref = sp.bootstrap(
        (x, y),
        lambda u, v, axis=-1: v.mean(axis=axis) - u.mean(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=9999,
        rng=np.random.default_rng(0),
    )
    assert (d.low, d.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert paired(a, b) == d  # fixed seed: same interval every time


def test_paired_edge_cases() -> None:
    same = _answers("110100")
    d = paired(same, same)  # no discordant pairs
    assert (d.fixed, d.broken, d.difference, d.low, d.high, d.p_value) == (0, 0, 0.0, 0.0, 0.0, 1.0)
    all_right = paired(_answers("1111"), _answers("1111"))
    assert all_right.both_right == 4 and all_right.p_value == 1.0
    all_fixed = paired(_answers("000"), _answers("111"))
    assert (all_fixed.difference, all_fixed.low, all_fixed.high) == (1.0, 1.0, 1.0)
    assert all_fixed.p_value == pytest.approx(0.25)  # 2 * (1/2)^3
    disjoint = paired({"a": True, "b": False}, {"b": True, "c": True})
    assert (disjoint.n, disjoint.only_a, disjoint.only_b, disjoint.fixed) == (1, 1, 1, 1)
    nothing = paired({"a": True}, {"b": True})
    assert nothing.n == 0 and nothing.difference is None and format_difference(nothing) == "-"


def test_over_seeds_t_interval() -> None:
    s = over_seeds([0.5, 0.6, 0.7])
    assert (s.n, s.mean) == (3, pytest.approx(0.6)) and s.std == pytest.approx(0.1)
    # t(0.975, 2 df) = 4.303 from a printed t table; half width 4.303 * 0.1 / sqrt(3)
    assert s.high - s.mean == pytest.approx(4.303 * 0.1 / math.sqrt(3), abs=1e-4)
    low, high = sp.t.interval(0.95, 2, loc=0.6, scale=0.1 / math.sqrt(3))
    assert (s.low, s.high) == pytest.approx((low, high))
    assert format_spread(s) == "60.0% ± 10.0 (sd, 3 seeds; 95% CI 35.2 to 84.8%)"
    one = over_seeds([0.4])
    assert (one.n, one.mean, one.std, one.low, one.high) == (1, 0.4, None, None, None)
    assert format_spread(one) == "40.0% (1 seed)" and over_seeds([]).mean is None
    flat = over_seeds([0.5, 0.5])
    assert (flat.std, flat.low, flat.high) == (0.0, 0.5, 0.5)
    assert format_spread(over_seeds([0.05, -0.02]), points=True).startswith("+1.5 pts ± 4.9 (sd, 2 seeds")


def test_format_p() -> None:
    assert (format_p(None), format_p(3e-9), format_p(0.21875), format_p(1.0)) == (
        "-",
        "<0.0001",
        "0.219",
        "1",
    )
