"""WZE17 Eq. (13): the basin's inverse log-volume V(k) = Σ_{i≤k} log λ_i(H), top-k positive λ."""

from __future__ import annotations

import torch

from losslab.probes.lanczos import top_eigenvalues


def log_volume(eigenvalues, k: int) -> float:
    """V(k) from eigenvalues: natural log summed over the k largest positive ones (all k must exist)."""
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64).flatten()
    positive = torch.sort(lam[lam > 0], descending=True).values
    if positive.numel() < k:
        raise ValueError(f"log_volume: only {positive.numel()} positive eigenvalues, k={k}")
    return torch.log(positive[:k]).sum().item()


def log_volume_lanczos(op, k: int, tol: float = 1e-10, seed: int = 0, **kwargs) -> float:
    """V(k) with the top-k eigenvalues from Lanczos (top_eigenvalues, which='LA')."""
    return log_volume(top_eigenvalues(op, k, which="LA", tol=tol, seed=seed, **kwargs), k)
