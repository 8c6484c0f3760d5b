"""Hutchinson trace estimator: tr A = E[vᵀ A v] for Rademacher v (Hutchinson 1990), plain and deflated."""

from __future__ import annotations

import torch

from losslab.probes.lanczos import random_start
from losslab.stats import standard_error


def rademacher_probes(op, probes: int, seed: int) -> torch.Tensor:
    """(dim, probes): column p is random_start(op, seed + p, rademacher=True)."""
    return torch.stack([random_start(op, seed + p, rademacher=True) for p in range(probes)], dim=1)


def hutchinson_trace(op, probes: int = 100, seed: int = 0, chunk: int | None = None) -> tuple[float, float]:
    """(estimate, standard error) of tr A from `probes` Rademacher probes (SE = std/√probes).

    The products go through op.matmat, `chunk` probes per batched product (None: the operator's default).
    """
    vs = rademacher_probes(op, probes, seed)
    samples = (vs * op.matmat(vs, chunk=chunk)).sum(0).to(torch.float64)
    return samples.mean().item(), standard_error(samples)


def deflated_products(op, basis: torch.Tensor, probes: int, seed: int, chunk: int | None = None):
    """(P V, P A P V) for the Rademacher probes V and P = I − Q Qᵀ, Q = `basis` (orthonormal columns)."""
    def project(v):
        return v - basis @ (basis.T @ v)

    pv = project(rademacher_probes(op, probes, seed))
    return pv, project(op.matmat(pv, chunk=chunk))


def hutchinson_trace_deflated(op, result, probes: int = 10, seed: int = 0, chunk: int | None = None) -> tuple[float, float]:
    """(estimate, standard error) of tr A = tr T_m + tr(P A P) from a Lanczos run (Q_m, T_m), P = I − Q_m Q_mᵀ.

    Q_mᵀ A Q_m = T_m is exact; tr(P A P) = E[(Pv)ᵀ A (Pv)] over Rademacher v independent of Q_m (unbiased).
    With the outliers of the spectrum in Q_m the variance 2(‖PAP‖_F² − Σ_i (PAP)_ii²) is far below plain
    Hutchinson's (a Hutch++-style estimator, Meyer et al. 2021). Needs result.basis, orthonormal.
    """
    pv, papv = deflated_products(op, result.basis, probes, seed, chunk)
    rest = (pv * papv).sum(0).to("cpu", torch.float64)
    return result.alphas.sum().item() + rest.mean().item(), standard_error(rest)
