"""WZE17 Eq. (14), the finite-difference estimate of ‖H‖_F², swept over ε and M in float32 and float64 on a
smooth (tanh) and a ReLU net, against the exact Hessian and against the same probes' exact ‖Hv‖² (which
removes the Monte Carlo error and leaves the finite-difference and rounding error alone)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from losslab.probes.frobenius import frobenius_sq_finite_difference
from losslab.probes.hessian import HessianOperator, exact_hessian
from losslab.probes.lanczos import random_start
from losslab.stats import standard_error

EPSILONS = (1e-2, 1e-4, 1e-5, 1e-6)  # the paper's ε = 1e-5
PROBES = (10, 30, 100)  # M: prefixes of the paper's 100 probes


def small_problem(seed: int, loss: str = "ce", activation: str = "tanh"):
    """An MLP 8→16→4 (228 parameters, tanh or ReLU) on 64 Gaussian inputs, float64: (model, loss, x, y)."""
    torch.manual_seed(seed)
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    model = nn.Sequential(nn.Linear(8, 16), act(), nn.Linear(16, 4)).double()
    x = torch.randn(64, 8, dtype=torch.float64)
    if loss == "mse":
        return model, lambda out, target: (out - target).pow(2).mean(), x, torch.randn(64, 4, dtype=torch.float64)
    return model, nn.functional.cross_entropy, x, torch.randint(0, 4, (64,))


def eq14_sweep(seed: int, activation: str, epsilons=EPSILONS, probes=PROBES) -> dict:
    """Eq. (14) (1/(4Mε²) normalization) for every dtype, ε and M (the first M of max(probes) probes):
    estimate, standard error, relative error to the exact ‖H‖_F² and to the same probes' exact ‖Hv‖²."""
    model, loss_fn, x, y = small_problem(seed, "ce", activation)
    op64 = HessianOperator(model, loss_fn, (x, y))
    h = exact_hessian(op64)
    exact = float(h.pow(2).sum())
    most = max(probes)
    same = np.array([float((h @ random_start(op64, seed + p)).pow(2).sum()) for p in range(most)])
    rows = []
    for dtype in (torch.float32, torch.float64):
        m = copy.deepcopy(model).to(dtype)
        op = HessianOperator(m, loss_fn, (x.to(dtype), y))
        for epsilon in epsilons:
            samples = frobenius_sq_finite_difference(op, probes=most, epsilon=epsilon, seed=seed).samples.numpy()
            for count in probes:
                value = float(samples[:count].mean())
                rows.append({"dtype": str(dtype).replace("torch.", ""), "epsilon": epsilon, "M": count,
                             "estimate": value, "standard_error": standard_error(samples[:count]),
                             "relative_error": abs(value - exact) / exact,
                             "same_probes_deviation": abs(value / same[:count].mean() - 1)})
    return {"activation": activation, "exact": exact, "dim": op64.dim, "seed": seed, "rows": rows}


def row(sweep: dict, dtype: str, epsilon: float, count: int) -> dict:
    """The sweep row of one dtype, ε and M."""
    return next(r for r in sweep["rows"] if r["dtype"] == dtype and r["epsilon"] == epsilon and r["M"] == count)
