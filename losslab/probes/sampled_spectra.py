"""Sampled random matrices with a block variance profile, and their distance to an MDE density.

Used to compare the Matrix Dyson Equation density with eigenvalue histograms (LI19 Thm A.1).
"""

from __future__ import annotations

import numpy as np
import torch

from losslab.runtime import single_torch_thread


def sample_block_profile_matrix(block_variances, fractions, n: int, rng: np.random.Generator) -> np.ndarray:
    """Real symmetric Gaussian H (n x n) with E h_ij^2 = s_{b(i) b(j)} / n, blocks sized by `fractions`."""
    sizes = np.round(np.asarray(fractions) * n).astype(int)
    sizes[-1] = n - sizes[:-1].sum()
    labels = np.repeat(np.arange(len(sizes)), sizes)
    g = np.triu(rng.standard_normal((n, n)))
    return (g + np.triu(g, 1).T) * np.sqrt(np.asarray(block_variances)[labels][:, labels] / n)


def symmetric_eigenvalues(h: np.ndarray) -> np.ndarray:
    """Eigenvalues of a symmetric matrix (torch eigvalsh on one thread: threaded LAPACK was ~10x slower)."""
    with single_torch_thread():
        return torch.linalg.eigvalsh(torch.from_numpy(h)).numpy()


def kolmogorov_distance(eigenvalues, x, cdf) -> float:
    """sup |F_empirical - F| at the jumps of the empirical CDF (F interpolated on the grid x)."""
    e = np.sort(eigenvalues)
    f = np.interp(e, x, cdf)
    k = np.arange(1, e.size + 1) / e.size
    return float(max(np.abs(f - k).max(), np.abs(f - k + 1 / e.size).max()))
