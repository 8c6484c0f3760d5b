"""Classical (strain / Torgerson) MDS and the 1 − cosine dissimilarity LP17 §4.2 uses for its trajectory plots.

B = -1/2 J D∘D J (J = I - 11ᵀ/n, D∘D the squared dissimilarities); coordinates X = V_k Λ_k^{1/2} from the
k largest eigenpairs of B (negative eigenvalues clipped to 0). For Euclidean D, X reproduces D exactly up
to rotation / reflection / translation when k ≥ the configuration's dimension.
"""

from __future__ import annotations

import numpy as np


def cosine_dissimilarity(points) -> np.ndarray:
    """D_ij = 1 - <w_i, w_j> / (|w_i| |w_j|) for the rows w_i of `points` (n x d)."""
    w = np.asarray(points, dtype=np.float64)
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)
    d = 1.0 - unit @ unit.T
    np.fill_diagonal(d, 0.0)
    return np.clip((d + d.T) / 2, 0.0, 2.0)


def classical_mds(dissimilarity, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(n x k coordinates, all eigenvalues of B in descending order) of classical MDS."""
    d = np.asarray(dissimilarity, dtype=np.float64)
    n = d.shape[0]
    if d.shape != (n, n):
        raise ValueError("dissimilarity must be a square matrix")
    j = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * j @ (d * d) @ j
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    return vectors[:, :k] * np.sqrt(np.clip(values[:k], 0.0, None)), values
