"""Hutchinson trace estimator: tr A = E[vᵀ A v] for Rademacher v (Hutchinson 1990)."""

from __future__ import annotations

import math

import torch

from losslab.probes.lanczos import random_start


def hutchinson_trace(op, probes: int = 100, seed: int = 0, chunk: int = 0) -> tuple[float, float]:
    """(estimate, standard error) of tr A from `probes` Rademacher probes (SE = std/√probes).

    chunk > 0 batches the products with op.matmat, `chunk` probes at a time.
    """
    vs = torch.stack([random_start(op, seed + p, rademacher=True) for p in range(probes)], dim=1)
    if chunk:
        av = op.matmat(vs, chunk=chunk)
    else:
        av = torch.stack([op.matvec(vs[:, p]) for p in range(probes)], dim=1)
    samples = (vs * av).sum(0).to(torch.float64)
    se = samples.std().item() / math.sqrt(probes) if probes > 1 else float("inf")
    return samples.mean().item(), se
