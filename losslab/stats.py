"""Statistics for claims: intervals over seeds, binomial bounds, rank correlations.

Every comparison a claim makes ("A beats B", "negative correlation") goes through one of these,
with the error rate stated (alpha = 0.05 unless said otherwise).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st


def mean_std(values) -> tuple[float, float]:
    """Sample mean and sample standard deviation (ddof=1; 0 for a single value)."""
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval for the mean of `values` (needs >= 2 values)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError("a t interval needs at least 2 values")
    half = _st.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean() - half), float(x.mean() + half)


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for a success probability."""
    if not 0 <= successes <= trials or trials == 0:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    alpha = 1 - confidence
    lower = 0.0 if successes == 0 else _st.beta.ppf(alpha / 2, successes, trials - successes + 1)
    upper = 1.0 if successes == trials else _st.beta.ppf(1 - alpha / 2, successes + 1, trials - successes)
    return float(lower), float(upper)


def spearman_interval(x, y, confidence: float = 0.95) -> tuple[float, float, float]:
    """Spearman rho with a Fisher-z interval (Bonett-Wright variance 1.06/(n-3)): (rho, lo, hi)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    if n < 4:
        raise ValueError("a Spearman interval needs at least 4 pairs")
    rho = float(_st.spearmanr(x, y).statistic)
    z = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12))
    half = _st.norm.ppf(0.5 + confidence / 2) * math.sqrt(1.06 / (n - 3))
    return rho, math.tanh(z - half), math.tanh(z + half)


def spearman_permutation_pvalue(x, y, permutations: int = 2000, seed: int = 0,
                                alternative: str = "less") -> float:
    """Permutation p-value of Spearman rho (alternative 'less': rho < 0), with the +1 correction."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    observed = _st.spearmanr(x, y).statistic
    null = np.array([_st.spearmanr(x, rng.permutation(y)).statistic for _ in range(permutations)])
    if alternative == "less":
        hits = np.sum(null <= observed)
    elif alternative == "greater":
        hits = np.sum(null >= observed)
    else:
        hits = np.sum(np.abs(null) >= abs(observed))
    return float((hits + 1) / (permutations + 1))
