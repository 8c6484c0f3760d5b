"""Lanczos tridiagonalization and extreme eigenvalues of a symmetric operator, on its device.

After m steps, A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ; the Ritz values of T_m approximate A's extreme
eigenvalues and the residual of Ritz pair (θ_i, Q_m s_i) is |β_m s_{m,i}| (Golub & Van Loan §10.1),
which bounds the distance from θ_i to A's spectrum. Full reorthogonalization keeps Q_m orthonormal
(without it, converged Ritz values reappear as spurious copies: "ghost" eigenvalues).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class LanczosResult:
    alphas: torch.Tensor  # diagonal of T (m,)
    betas: torch.Tensor  # off-diagonal of T (m-1,), and betas_last = β_m
    beta_last: float
    basis: torch.Tensor | None  # Q (dim, m) or None when not kept

    def tridiagonal(self) -> torch.Tensor:
        return torch.diag(self.alphas) + torch.diag(self.betas, 1) + torch.diag(self.betas, -1)


def random_start(op, seed: int, rademacher: bool = False) -> torch.Tensor:
    """A seeded start vector on the operator's device (generated on CPU so every device agrees)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    if rademacher:
        v = torch.randint(0, 2, (op.dim,), generator=g).to(torch.float64) * 2 - 1
    else:
        v = torch.randn(op.dim, generator=g, dtype=torch.float64)
    return v.to(device=op.device, dtype=op.dtype)


def lanczos(op, steps: int, start: torch.Tensor, reorthogonalize: bool = True,
            keep_basis: bool = True) -> LanczosResult:
    """`steps` Lanczos steps from `start`; stops early on an invariant subspace (β ≈ 0)."""
    return lanczos_probes(op, steps, start[:, None], reorthogonalize, keep_basis)[0]


def lanczos_probes(op, steps: int, starts: torch.Tensor, reorthogonalize: bool = True,
                   keep_basis: bool = True) -> list[LanczosResult]:
    """Independent Lanczos runs from the columns of `starts` (dim, p), one batched product per step.

    Each column follows its own three-term recurrence (and its own full reorthogonalization) and
    stops on its own invariant subspace (β ≤ 1e-10 · max |α|); a stopped column rides along as zeros.
    """
    q = starts / torch.linalg.vector_norm(starts, dim=0)
    p = q.shape[1]
    basis = torch.zeros(p, steps, op.dim, device=q.device, dtype=q.dtype)
    alphas, betas = torch.zeros(p, steps, dtype=torch.float64), torch.zeros(p, steps, dtype=torch.float64)
    lengths = [steps] * p
    q_prev, beta = torch.zeros_like(q), torch.zeros(p, device=q.device, dtype=q.dtype)
    for j in range(steps):
        basis[:, j] = q.T
        w = _products(op, q)
        alpha = (w * q).sum(0)
        w = w - alpha * q - beta * q_prev
        if reorthogonalize:  # twice is enough (Kahan-Parlett)
            for _ in range(2):
                w = w - torch.einsum("pjd,pj->dp", basis[:, : j + 1], torch.einsum("pjd,dp->pj", basis[:, : j + 1], w))
        beta = torch.linalg.vector_norm(w, dim=0)
        alphas[:, j], betas[:, j] = alpha.to("cpu", torch.float64), beta.to("cpu", torch.float64)
        for i in range(p):
            if lengths[i] == steps and betas[i, j] <= 1e-10 * alphas[i, : j + 1].abs().max():
                lengths[i] = j + 1
        if j == steps - 1 or max(lengths) <= j + 1:
            break
        stopped = torch.tensor([n <= j + 1 for n in lengths], device=q.device)
        # a stopped column continues as exact zeros: no division by β ≈ 0, no effect on the others
        beta = torch.where(stopped, torch.zeros_like(beta), beta)
        q_prev, q = torch.where(stopped, 0.0, q), torch.where(stopped, 0.0, w / beta.clamp(min=torch.finfo(w.dtype).tiny))
    return [LanczosResult(alphas[i, :m], betas[i, : m - 1], betas[i, m - 1].item(),
                          basis[i, :m].T if keep_basis else None) for i, m in enumerate(lengths)]


def _select(theta: torch.Tensor, k: int, which: str) -> torch.Tensor:
    """Indices of the k wanted Ritz values, in the order they are reported."""
    if which == "LA":
        return torch.argsort(theta, descending=True)[:k]
    if which == "SA":
        return torch.argsort(theta)[:k]
    if which == "LM":
        return torch.argsort(theta.abs(), descending=True)[:k]
    raise ValueError(f"which must be 'LA', 'SA' or 'LM', got {which!r}")


def ritz_relative_residuals(alphas, betas, beta, k: int, which: str):
    """The k wanted Ritz values θ_i of T_m and their relative residual bounds |β_m s_{m,i}| / |θ_i|.

    |θ_i − λ| ≤ |β_m s_{m,i}| for some eigenvalue λ of the operator (Golub & Van Loan Thm 10.1.2),
    so a relative residual ≤ tol guarantees relative error ≤ tol for each returned value.
    """
    from scipy.linalg import eigh_tridiagonal  # O(m²), not the O(m³) of a dense eigh

    m = len(alphas)
    theta, s = eigh_tridiagonal(np.asarray(alphas, dtype=np.float64), np.asarray(betas[: m - 1], dtype=np.float64))
    theta, s = torch.from_numpy(theta), torch.from_numpy(s)
    idx = _select(theta, k, which)
    # floor: a wanted θ_i ≈ 0 is judged against the spectrum's scale, not against itself
    scale = theta[idx].abs().clamp(min=1e-12 * theta.abs().max().item())
    return theta[idx], (beta * s[-1, idx]).abs() / scale


def _products(op, block: torch.Tensor) -> torch.Tensor:
    """A V for V (dim, b): one matvec for a single column, one batched matmat otherwise."""
    if block.shape[1] == 1:
        return op.matvec(block[:, 0])[:, None]
    return op.matmat(block)


def _orthonormal_block(w: torch.Tensor, basis: torch.Tensor, scale: float) -> torch.Tensor:
    """Columns of w made orthonormal to `basis` and to each other; (near-)dependent columns dropped.

    Twice is enough (Kahan-Parlett) for the projection; a column whose remainder is below
    1e-10 · scale lies in span(basis) (an invariant subspace has been found) and is dropped.
    """
    for _ in range(2):
        w = w - basis @ (basis.T @ w)
    q, r = torch.linalg.qr(w)
    keep = torch.diagonal(r).abs() > 1e-10 * max(scale, torch.finfo(w.dtype).tiny)
    return q[:, keep]


def top_eigenvalues(op, k: int = 1, which: str = "LA", tol: float = 1e-8, max_steps: int | None = None,
                    seed: int = 0, reorthogonalize: bool = True, return_vectors: bool = False,
                    check_every: int = 1, block: int = 1):
    """The k extreme eigenvalues of a symmetric operator by block Lanczos (largest first for 'LA'/'LM').

    Builds an orthonormal Krylov basis Q from a seeded (dim, b) Gaussian start block, b = `block`
    columns per batched product (default 1), keeps A Q, and takes the Ritz pairs (θ_i, x_i = Q s_i) of
    Qᵀ A Q (Rayleigh-Ritz). `tol` is the requested relative accuracy: it stops as soon as every wanted
    pair has r_i = ‖A x_i − θ_i x_i‖ ≤ tol · |θ_i|, which bounds |θ_i − λ| ≤ tol · |θ_i| for an
    eigenvalue λ (Golub & Van Loan Thm 8.1.13; rigorous, the true error is usually ~ r_i² / gap). The
    check (an eigh of the m × m projection) runs every `check_every` blocks. `max_steps` caps the basis
    size (= products). reorthogonalize=False orthogonalizes each block against the previous two only
    (plain block Lanczos). Returns a float64 CPU tensor (and the Ritz vectors, dim × k on the
    operator's device, if asked).
    """
    if which not in ("LA", "SA", "LM"):
        raise ValueError(f"which must be 'LA', 'SA' or 'LM', got {which!r}")
    max_steps = min(op.dim, max_steps or max(4 * k + 40, 100))
    b = min(block, max_steps)
    g = torch.Generator(device="cpu").manual_seed(seed)
    start = torch.randn(op.dim, b, generator=g, dtype=torch.float64).to(device=op.device, dtype=op.dtype)
    q = torch.linalg.qr(start)[0]
    basis, images = q[:, :0], q[:, :0]
    converged, checks = False, 0
    while q.shape[1]:
        aq = _products(op, q)
        basis, images = torch.cat([basis, q], 1), torch.cat([images, aq], 1)
        m = basis.shape[1]
        t = basis.T @ images
        theta, s = torch.linalg.eigh(((t + t.T) / 2).to("cpu", torch.float64))
        idx = _select(theta, min(k, m), which)
        checks += 1
        if m >= k and (checks % check_every == 0 or m >= max_steps):
            s_w, theta_w = (t.to(device=basis.device, dtype=basis.dtype) for t in (s[:, idx], theta[idx]))
            residual = torch.linalg.vector_norm(images @ s_w - (basis @ s_w) * theta_w, dim=0).to("cpu", torch.float64)
            # floor: a wanted θ_i ≈ 0 is judged against the spectrum's scale, not against itself
            scale = theta[idx].abs().clamp(min=1e-12 * theta.abs().max().item())
            converged = bool((residual <= tol * scale).all())
        if converged or m >= max_steps:
            break
        against = basis if reorthogonalize else basis[:, max(0, m - 2 * b):]
        q = _orthonormal_block(aq, against, theta.abs().max().item())[:, : max_steps - m]
    if not converged and max_steps <= basis.shape[1] < op.dim:
        warnings.warn(f"top_eigenvalues: not converged to tol={tol} in {max_steps} products")
    values = theta[idx]
    if not return_vectors:
        return values
    return values, basis @ s[:, idx].to(device=basis.device, dtype=basis.dtype)
