"""LP17 training claims (Sec. 4.3, 5, App. D, Fig. 2): reading trained runs' metrics into evidence."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats as st
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from losslab.experiments.lp17.minima import flat_output, lbfgs
from losslab.probes.hessian import HessianOperator
from losslab.probes.lanczos import top_eigenvalues
from losslab.stats import t_interval, within_group_scatter


def final(metrics: list[dict], key: str) -> list[float]:
    """metrics["final"][key] of every run."""
    return [m["final"][key] for m in metrics]


@dataclass
class EndPoint:
    """A run's end point after an L-BFGS polish: loss before/after, train error, |∇L|, extreme Hessian eigenvalues."""

    loss_before: float
    loss_after: float
    train_error: float
    gradient_norm: float
    lambda_min: float
    lambda_max: float

    def stuck(self, curvature_tol: float) -> bool:
        """A local minimum with non-zero train error: the polish stalled short of zero error and no direction
        has negative curvature beyond curvature_tol · λ_max. |∇L| is reported, not required small: a ReLU
        net's minima sit on kinks, where the gradient jumps."""
        return self.train_error > 0 and self.lambda_min >= -curvature_tol * self.lambda_max


def polished_end_point(model: nn.Module, x, y, iterations: int = 300, lanczos_steps: int = 200) -> EndPoint:
    """Float64 full-batch L-BFGS (<= `iterations`, stops where it stalls) on the cross-entropy from the model's
    weights, BN on the full batch (the function GD minimises); then λ_min, λ_max of the Hessian by Lanczos
    (<= lanczos_steps products: every direction of a net with fewer parameters)."""
    net = copy.deepcopy(model).double()
    torch.func.replace_all_batch_norm_modules_(net)  # batch statistics in eval mode too
    x = x.double()
    output = flat_output(net)

    def loss(theta):
        return F.cross_entropy(output(theta, x), y)
    theta0 = parameters_to_vector(net.parameters()).detach()
    theta = lbfgs(loss, theta0, max_iter=iterations)
    vector_to_parameters(theta, net.parameters())
    op = HessianOperator(net, F.cross_entropy, (x, y))
    with torch.no_grad():
        error = float((output(theta, x).argmax(1) != y).double().mean())
        before, after = float(loss(theta0)), float(loss(theta))
    lambda_min = top_eigenvalues(op, 1, "SA", max_steps=lanczos_steps)
    lambda_max = top_eigenvalues(op, 1, "LA", max_steps=lanczos_steps)
    return EndPoint(before, after, error, float(op.gradient().norm()), float(lambda_min[0]), float(lambda_max[0]))


def paired_gap(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of a - b (paired by run index) and its 95% t-interval."""
    diff = np.asarray(a) - np.asarray(b)
    lo, hi = t_interval(diff)
    return float(diff.mean()), lo, hi


def flat_with_rise(params, errors, slope: float) -> np.ndarray:
    """The errors with each width's mean replaced by the narrowest width's, plus `slope` · ln(params / min):
    a planted rise of `slope` per e-fold of parameters on the measured seed-to-seed noise."""
    params, errors = np.asarray(params), np.asarray(errors)
    flat = within_group_scatter(params, errors) + errors[params == params.min()].mean()
    return flat + slope * np.log(params / params.min())


def slope_vs_log_params(params, errors, confidence: float = 0.95) -> tuple[float, float, float]:
    """OLS slope of error on ln(params) with its t-interval: (slope, lo, hi) (LP17 Fig. 40)."""
    fit = st.linregress(np.log(params), errors)
    half = st.t.ppf(0.5 + confidence / 2, len(errors) - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)
