"""Statistics for claims: intervals over seeds, binomial bounds, rank correlations, power.

Every comparison a claim makes ("A beats B", "negative correlation") goes through one of these,
with the error rate stated (alpha = 0.05 unless said otherwise). Where scipy.stats has the method,
these functions call it; they only fix the conventions (two-sided 95%, returned as plain floats).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import stats as _st


def mean_std(values) -> tuple[float, float]:
    """Sample mean and sample standard deviation (ddof=1; 0 for a single value)."""
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval for the mean of `values` (needs >= 2 values; scipy's ttest_1samp)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError("a t interval needs at least 2 values")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])  # zero spread: scipy returns nan bounds
    ci = _st.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return float(ci.low), float(ci.high)


def paired_t_interval(a, b, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval for mean(a - b) over pairs (scipy's ttest_rel)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"a paired interval needs two equal-length samples of >= 2 values, got {a.size}, {b.size}")
    return t_interval(a - b, confidence)


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for a success probability: beta quantiles (Clopper-Pearson 1934).

    The same interval as scipy's binomtest(...).proportion_ci(method="exact"), without its root finding.
    """
    if not 0 <= successes <= trials or trials == 0:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    alpha = 1 - confidence
    lower = 0.0 if successes == 0 else _st.beta.ppf(alpha / 2, successes, trials - successes + 1)
    upper = 1.0 if successes == trials else _st.beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
    return float(lower), float(upper)


def spearman_permutation_test(x, y, alternative: str = "less", permutations: int = 20000,
                              seed: int = 0) -> tuple[float, float]:
    """(rho, p) of Spearman's rho by a permutation test (scipy.stats.permutation_test, 'pairings').

    Exact (all n! pairings) when n! <= permutations, else Monte Carlo with `permutations` draws.
    alternative: 'less' (rho < 0), 'greater' or 'two-sided'.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3:
        raise ValueError("a Spearman permutation test needs at least 3 pairs")

    ry = _st.rankdata(y) - (y.size + 1) / 2
    ry = ry / np.linalg.norm(ry)

    def rho(xs, axis=-1):  # Pearson of the ranks, vectorized over the permutations (spearmanr per pairing is slow)
        rx = _st.rankdata(xs, axis=axis)
        rx = rx - rx.mean(axis=axis, keepdims=True)
        return (rx * ry).sum(axis=axis) / np.linalg.norm(rx, axis=axis)

    res = _st.permutation_test((x,), rho, permutation_type="pairings", alternative=alternative,
                               n_resamples=permutations, rng=np.random.default_rng(seed), vectorized=True)
    return float(res.statistic), float(res.pvalue)


def bootstrap_interval(statistic: Callable, *samples, confidence: float = 0.95, resamples: int = 9999,
                       seed: int = 0, paired: bool = True) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(*samples)` (scipy.stats.bootstrap).

    The percentile method stays defined where BCa is not (a statistic at its bound, e.g. rho = -1
    on every resample); `paired=True` resamples the samples' rows together.
    """
    res = _st.bootstrap(samples, statistic, paired=paired, vectorized=False, confidence_level=confidence,
                        n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _row_ranks(a: np.ndarray) -> np.ndarray:
    """0-based ranks within each row (continuous draws: no ties)."""
    ranks = np.empty_like(a, dtype=np.int64)
    np.put_along_axis(ranks, np.argsort(a, axis=1), np.arange(a.shape[1]), axis=1)
    return ranks


def spearman_interval(x, y, confidence: float = 0.95, draws: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman rho with an interval by test inversion under a Gaussian copula: (rho, lo, hi).

    The interval holds every population rho_s = (6/pi) asin(r/2) of a bivariate normal with
    correlation r under which the observed rho is not in either (1 - confidence)/2 tail of the
    sampling distribution (Monte Carlo, `draws` samples of n pairs, common random numbers across
    the grid). Rank statistics are invariant to monotone maps, so the copula is the only model.
    Unlike the Fisher-z interval it stays informative at rho = +-1 (e.g. n = 4: the interval
    reaches 0, since a perfect order has probability 1/4! > 0.025 under independence).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    if n < 4:
        raise ValueError("a Spearman interval needs at least 4 pairs")
    observed = float(_st.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    z1, z2 = rng.standard_normal((draws, n)), rng.standard_normal((draws, n))
    ranks1 = _row_ranks(z1)
    tail = (1 - confidence) / 2
    eps = 1e-9  # the observed value itself belongs to both tails
    inside = []
    for r in np.linspace(-1.0, 1.0, 201):
        d = ranks1 - _row_ranks(r * z1 + math.sqrt(max(1.0 - r * r, 0.0)) * z2)
        sampled = 1.0 - 6.0 * (d * d).sum(axis=1) / (n * (n * n - 1))
        if np.mean(sampled <= observed + eps) > tail and np.mean(sampled >= observed - eps) > tail:
            inside.append(6.0 / math.pi * math.asin(r / 2.0))
    if not inside:  # cannot happen for a valid observed rho; guard the min/max below
        return observed, observed, observed
    return observed, float(min(inside)), float(max(inside))


def standard_error(samples) -> float:
    """Standard error of the mean, scipy.stats.sem (ddof 1); inf for fewer than 2 samples."""
    samples = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples, dtype=float)
    return float(_st.sem(samples)) if samples.size >= 2 else float("inf")


def within_group_scatter(groups, values) -> np.ndarray:
    """values minus the mean of the values in their group: the scatter with the group effect removed."""
    groups, values = np.asarray(groups), np.asarray(values, float)
    return values - np.array([values[groups == g].mean() for g in groups])


def smallest_detected_shift(check: Callable[[float], bool], shifts) -> float:
    """The smallest planted effect in `shifts` (ascending) that `check(shift)` detects; inf if none.

    Power by planting: `check(shift)` re-runs the claim's decision rule on data with an effect of
    size `shift` planted (e.g. the measured samples plus `shift`), True when the rule flags it.
    """
    for shift in shifts:
        if check(float(shift)):
            return float(shift)
    return math.inf
