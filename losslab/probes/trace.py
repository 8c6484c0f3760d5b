"""Hutchinson trace estimator: tr A = E[vᵀ A v] for Rademacher v (Hutchinson 1990)."""

from __future__ import annotations

import math

import torch

from losslab.probes.lanczos import random_start


def rademacher_probes(op, probes: int, seed: int) -> torch.Tensor:
    """(dim, probes): column p is random_start(op, seed + p, rademacher=True)."""
    return torch.stack([random_start(op, seed + p, rademacher=True) for p in range(probes)], dim=1)


def hutchinson_trace(op, probes: int = 100, seed: int = 0, chunk: int = 8) -> tuple[float, float]:
    """(estimate, standard error) of tr A from `probes` Rademacher probes (SE = std/√probes).

    The products are batched, `chunk` probes per op.matmat.
    """
    vs = rademacher_probes(op, probes, seed)
    samples = (vs * op.matmat(vs, chunk=chunk)).sum(0).to(torch.float64)
    se = samples.std().item() / math.sqrt(probes) if probes > 1 else float("inf")
    return samples.mean().item(), se
