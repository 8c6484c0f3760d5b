"""Squared Frobenius norm ‖H‖_F² of a Hessian: exact, Hutchinson, and WZE17's finite difference."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from losslab.probes.lanczos import random_start
from losslab.probes.trace import deflated_products, rademacher_probes
from losslab.stats import standard_error


@dataclass
class Estimate:
    value: float
    standard_error: float  # Monte-Carlo standard error of `value` (0 for exact computations)
    samples: torch.Tensor  # per-probe terms, float64 CPU


def frobenius_sq_exact_hvps(op, chunk: int = 64) -> float:
    """‖H‖_F² = Σ_i ‖H e_i‖² over the basis (dim products, batched `chunk` per op.matmat; exact up to rounding)."""
    eye = torch.eye(op.dim, device=op.device, dtype=op.dtype)
    return op.matmat(eye, chunk=chunk).to(torch.float64).pow(2).sum().item()


def frobenius_sq_hutchinson(op, probes: int = 100, seed: int = 0, chunk: int | None = None) -> Estimate:
    """‖H‖_F² = E‖H v‖² for Rademacher v (E vvᵀ = I); products through op.matmat (`chunk` per batched product)."""
    samples = op.matmat(rademacher_probes(op, probes, seed), chunk=chunk).to("cpu", torch.float64).pow(2).sum(0)
    return Estimate(samples.mean().item(), standard_error(samples), samples)


def frobenius_sq_finite_difference(op, probes: int = 100, epsilon: float = 1e-5, seed: int = 0) -> Estimate:
    """WZE17 Eq. (14) with the normalization that makes it consistent:

        ‖H‖_F² ≈ (1/(4Mε²)) Σ_{i=1}^M ‖∇R(θ+εv_i) − ∇R(θ−εv_i)‖²,  v_i ~ N(0, I).

    ∇R(θ+εv) − ∇R(θ−εv) = 2εHv + O(ε³), so the right factor is 1/(4Mε²). The paper prints
    1/(2Mε²) (Eq. 14, p. 8), which converges to 2‖H‖_F²; multiply `value` by 2 for the printed form.
    Gradients are computed in the operator's dtype (float32 loses digits to cancellation).
    """
    theta = op.theta
    samples = []
    for p in range(probes):
        v = random_start(op, seed + p)  # N(0, I) in the operator's dtype
        diff = op.gradient(theta + epsilon * v) - op.gradient(theta - epsilon * v)
        samples.append(diff.to(torch.float64).pow(2).sum().item() / (4 * epsilon**2))
    samples = torch.tensor(samples, dtype=torch.float64)
    return Estimate(samples.mean().item(), standard_error(samples), samples)


def frobenius_sq_deflated(op, result, probes: int = 10, seed: int = 0) -> Estimate:
    """‖H‖_F² from a Lanczos run (basis Q_m, T_m, β_m) plus Hutchinson on the deflated rest:

        ‖H‖_F² = ‖T_m‖_F² + 2β_m² + ‖P H P‖_F²,  P = I − Q_m Q_mᵀ,

    since in the basis [Q_m, Q_⊥] the blocks are T_m, Q_⊥ᵀHQ_m = β_m (Q_⊥ᵀq_{m+1}) e_mᵀ (norm β_m), and
    Q_⊥ᵀHQ_⊥. The last term is estimated by E‖P H P v‖² (Rademacher v, independent of Q_m): unbiased,
    and with the top of the spectrum deflated its variance is small (a Hutch++-style estimator).
    Needs result.basis (keep_basis=True) with orthonormal columns (reorthogonalize=True).
    """
    exact = result.tridiagonal().pow(2).sum().item() + 2 * result.beta_last**2
    rest = deflated_products(op, result.basis, probes, seed)[1].to("cpu", torch.float64).pow(2).sum(0)
    return Estimate(exact + rest.mean().item(), standard_error(rest), rest)
