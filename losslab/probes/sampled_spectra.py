"""Sampled random matrices (block variance profiles, Kronecker-correlated entries) and the
Kolmogorov distance of their spectra to an MDE distribution (LI19 Thm A.1).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import ks_2samp

from losslab.runtime import single_torch_thread


def _symmetric_gaussian(n: int, rng: np.random.Generator) -> np.ndarray:
    """Real symmetric G (n x n) with iid N(0, 1) entries on and above the diagonal."""
    g = np.triu(rng.standard_normal((n, n)))
    return g + np.triu(g, 1).T


def block_labels(fractions, n: int) -> np.ndarray:
    """Block index of each of the n rows, blocks sized round(f_J n) (the last takes the rest)."""
    sizes = np.round(np.asarray(fractions) * n).astype(int)
    sizes[-1] = n - sizes[:-1].sum()
    return np.repeat(np.arange(len(sizes)), sizes)


def sample_block_profile_matrix(block_variances, fractions, n: int, rng: np.random.Generator) -> np.ndarray:
    """Real symmetric Gaussian H (n x n) with E h_ij^2 = s_{b(i) b(j)} / n, blocks sized by `fractions`."""
    labels = block_labels(fractions, n)
    return _symmetric_gaussian(n, rng) * np.sqrt(np.asarray(block_variances)[labels][:, labels] / n)


def sample_kronecker_matrix(generators, blocks: int, rng: np.random.Generator) -> np.ndarray:
    """H = sum_k (X_k / sqrt(blocks)) ⊗ B_k (X_k iid symmetric Gaussian, blocks x blocks): entries
    within one n x n block are correlated. Its MDE reduces to n x n with S[r] = sum_k B_k r B_k."""
    return sum(np.kron(_symmetric_gaussian(blocks, rng) / np.sqrt(blocks), b) for b in np.asarray(generators))


def symmetric_eigenvalues(h: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric matrix (torch eigvalsh on one thread: threaded LAPACK was ~10x slower)."""
    with single_torch_thread():
        return torch.linalg.eigvalsh(torch.from_numpy(h)).numpy()


def kolmogorov_distance(samples, cdf, atom_tolerance: float = 1e-8) -> float:
    """sup_t |F_empirical(t) - F(t)| for F continuous plus the atoms in `cdf.atoms` ([(loc, mass)]).

    Samples within atom_tolerance of an atom are moved onto it (eigvalsh returns an exact zero
    eigenvalue as +-1e-15). The sup is attained at a sample, from the right or the left, so both
    limits are compared; scipy.stats.kstest compares F(t) with the left empirical limit, which is
    wrong at an atom (for continuous F the two agree).
    """
    e = np.sort(np.asarray(samples, dtype=float))
    for loc, _ in getattr(cdf, "atoms", ()):
        e[np.abs(e - loc) <= atom_tolerance] = loc
    right = cdf(e)
    left = right - sum(mass * (e == loc) for loc, mass in getattr(cdf, "atoms", ()))
    empirical_right = np.searchsorted(e, e, side="right") / e.size
    empirical_left = np.searchsorted(e, e, side="left") / e.size
    return float(max(np.abs(right - empirical_right).max(), np.abs(left - empirical_left).max()))


def empirical_kolmogorov_distance(samples_a, samples_b) -> float:
    """sup_t |F_a(t) - F_b(t)| of two empirical distributions (scipy.stats.ks_2samp)."""
    return float(ks_2samp(samples_a, samples_b, method="asymp").statistic)
