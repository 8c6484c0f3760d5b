"""Spectral density of a symmetric operator by stochastic Lanczos quadrature (SLQ).

For a unit probe v, m Lanczos steps from v give T_m = S diag(θ) Sᵀ; the Gauss quadrature
vᵀ f(A) v ≈ Σ_j τ_j f(θ_j) with τ_j = S_{1j}² is exact for polynomials of degree ≤ 2m−1
(Golub & Meurant). Averaging over probes estimates (1/n) tr f(A), i.e. the eigenvalue density
φ(t) = (1/n) Σ_i g_σ(t − λ_i) with g_σ a Gaussian of width σ (Ghorbani, Krishnan & Xiao 2019).
"""

from __future__ import annotations

import math

import torch

from losslab.probes.lanczos import lanczos_probes, random_start


def quadrature_nodes_weights(op, steps: int = 80, probes: int = 4, seed: int = 0):
    """[(nodes θ, weights τ)] per probe, float64 CPU tensors; weights of each probe sum to 1.

    Probe p is Rademacher with seed `seed + p`; the probes' Lanczos runs share one batched product per
    step (memory: probes · steps · dim for the bases).
    """
    starts = torch.stack([random_start(op, seed + p, rademacher=True) for p in range(probes)], dim=1)
    out = []
    for result in lanczos_probes(op, min(steps, op.dim), starts, keep_basis=False):
        theta, s = torch.linalg.eigh(result.tridiagonal())
        out.append((theta, s[0] ** 2))
    return out


def gaussian_density(nodes_weights, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """φ(t) on `grid`: the probe average of Σ_j τ_j N(t; θ_j, σ²) (integrates to ≈ 1)."""
    grid = torch.as_tensor(grid, dtype=torch.float64)
    total = torch.zeros_like(grid)
    for theta, tau in nodes_weights:
        z = (grid[:, None] - theta[None, :]) / sigma
        total += (tau[None, :] * torch.exp(-0.5 * z**2)).sum(1) / (sigma * math.sqrt(2 * math.pi))
    return total / len(nodes_weights)


def exact_gaussian_density(eigenvalues: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """The reference φ(t) = (1/n) Σ_i N(t; λ_i, σ²) from known eigenvalues."""
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    return gaussian_density([(lam, torch.full_like(lam, 1 / lam.numel()))], grid, sigma)


def window_mass_lower_bound(nodes: torch.Tensor, weights: torch.Tensor, low: float, high: float) -> float:
    """A lower bound on the probe's spectral mass μ_v((low, high)) from its Gauss quadrature (θ_j, τ_j).

    Chebyshev-Markov-Stieltjes: Σ_{j<k} τ_j ≤ F(θ_k − 0) and F(θ_k) ≤ Σ_{j≤k} τ_j for the probe's
    distribution function F. With θ_p < ... < θ_q the nodes inside the window, F(high−0) − F(low) ≥
    Σ_{j<q} τ_j − Σ_{j≤p} τ_j: the weights strictly between the outermost inside nodes.
    """
    order = torch.argsort(nodes)
    theta, tau = nodes[order], weights[order]
    inside = torch.nonzero((theta > low) & (theta < high)).flatten()
    if inside.numel() < 3:
        return 0.0
    return tau[inside[0] + 1:inside[-1]].sum().item()
