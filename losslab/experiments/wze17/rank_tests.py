"""Rank correlation of sharpness with test accuracy, optionally controlling for training loss (WZE17 Fig. 3
read at matched training loss, as in Jiang et al. 2019, "Fantastic generalization measures", Sec. 6).

partial Spearman ρ(x, y | z) = Pearson correlation of the residuals of rank(x) and rank(y) after a linear fit
on rank(z); its null distribution by Freedman-Lane permutation (permute the residuals of rank(y) on rank(z)),
exact (all n! permutations) for n <= EXACT_UP_TO, Monte Carlo otherwise. Without z: plain Spearman ρ with the
exact permutation null (permute y).
"""

from __future__ import annotations

import itertools
import numpy as np
from scipy import stats

EXACT_UP_TO = 8  # 8! = 40,320 permutations
MONTE_CARLO = 20000


def _residualizer(n: int, rz: np.ndarray | None) -> np.ndarray:
    """The n×n projection onto the complement of span[1, rz] (of [1] when rz is None)."""
    design = np.ones((n, 1)) if rz is None else np.column_stack([np.ones(n), rz])
    return np.eye(n) - design @ np.linalg.pinv(design)


def _correlations(ex: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine of ex with each row (Pearson correlation of residuals, which have mean 0); 0 for a zero row."""
    norms = np.linalg.norm(rows, axis=-1) * np.linalg.norm(ex)
    dots = rows @ ex
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 1e-12)


def partial_spearman(x, y, z=None) -> float:
    """Spearman ρ(x, y), or the partial ρ(x, y | z) on ranks."""
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    m = _residualizer(rx.size, None if z is None else stats.rankdata(z))
    return float(_correlations(m @ rx, (m @ ry)[None])[0])


def rank_correlation_test(x, y, z=None, alpha: float = 0.05, seed: int = 0) -> dict:
    """One-sided (ρ < 0) permutation test of partial_spearman(x, y, z): ρ, p, and `critical`, the α-quantile
    of the null (the most negative ρ the test cannot tell from chance at this n: its detectable effect)."""
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    n = rx.size
    m = _residualizer(n, None if z is None else stats.rankdata(z))
    ex, ey = m @ rx, m @ ry
    observed = float(_correlations(ex, ey[None])[0])
    exact = n <= EXACT_UP_TO
    if exact:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.argsort(rng.random((MONTE_CARLO, n)), axis=1)
    # Freedman-Lane: rank(y) = fit + ey under the null has fit + ey[order], whose residual is m @ ey[order]
    null = _correlations(ex, ey[orders] @ m.T)
    hits = int(np.sum(null <= observed + 1e-12))
    p = hits / null.size if exact else (hits + 1) / (null.size + 1)
    return {"rho": observed, "p": float(p), "critical": float(np.quantile(null, alpha)), "n": n,
            "null": "exact" if exact else f"{MONTE_CARLO} Monte Carlo permutations",
            "controls": "none" if z is None else "rank of training loss (Freedman-Lane)"}


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 1e-12)


def bootstrap_rank_interval(x, y, z=None, confidence: float = 0.95, seed: int = 0,
                            resamples: int = 4000) -> tuple[float, float]:
    """Percentile bootstrap interval of partial_spearman over resampled solutions (pairs kept together):
    ρ_xy·z = (ρ_xy − ρ_xz ρ_yz) / sqrt((1 − ρ_xz²)(1 − ρ_yz²)) per resample, ranks taken within it."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    index = np.random.default_rng(seed).integers(0, x.size, (resamples, x.size))
    rx, ry = stats.rankdata(x[index], axis=1), stats.rankdata(y[index], axis=1)
    rho = _row_pearson(rx, ry)
    if z is not None:
        rz = stats.rankdata(np.asarray(z, float)[index], axis=1)
        rxz, ryz = _row_pearson(rx, rz), _row_pearson(ry, rz)
        scale = np.sqrt(np.clip((1 - rxz ** 2) * (1 - ryz ** 2), 0, None))
        rho = np.divide(rho - rxz * ryz, scale, out=np.zeros_like(rho), where=scale > 1e-12)
    tail = (1 - confidence) / 2
    return float(np.quantile(rho, tail)), float(np.quantile(rho, 1 - tail))
