"""NMH19 "rand" (Sec. 3 end, Sec. 4): hidden weights U fixed at their random init, only the skip weights V fitted.

With Phi(U) in R^{n x M} the skip-neuron outputs on the n training inputs and B the rest of the network's
output (the base path, also fixed), V solves the ridge problem

    min_V ||Phi V - (Y - B)||_F^2 + ridge * ||V||_F^2,   V = Phi^T (Phi Phi^T + ridge I)^{-1} (Y - B),

Y the one-hot targets. For ridge -> 0 and rank Phi = n (Lemma 3.2: M >= n, almost every U) this is the
minimum-norm exact solution of Phi V = Y - B, so the skip net interpolates Y: zero training error
(Theorem 3.3.1). The paper runs SGD on the convex problem in V instead; both pick a zero-error V.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def ridge_output_weights(phi: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """argmin_V ||phi V - targets||^2 + ridge ||V||^2 in the dual form phi^T (phi phi^T + ridge I)^{-1} targets
    (float64; ridge = 0 needs phi of full row rank and gives the minimum-norm exact solution)."""
    phi, targets = phi.double(), targets.double()
    gram = phi @ phi.T + ridge * torch.eye(phi.shape[0], dtype=phi.dtype)
    return phi.T @ torch.linalg.solve(gram, targets)


@torch.no_grad()
def skip_features_and_base(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(Phi, B) of a losslab.nets.skip.SkipToOutput on inputs x: the skip-neuron outputs (n x M) and the
    output of everything but the skip layer, B = f(x) - Phi V (n x classes)."""
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []  # (skip-layer input Phi, skip-layer output Phi V)
    handle = model.skip.register_forward_hook(lambda _m, inputs, out: captured.append((inputs[0], out)))
    was_training = model.training
    model.eval()
    phis, bases = [], []
    try:
        for start in range(0, len(x), batch_size):
            out = model(x[start:start + batch_size])
            phi, skip_out = captured.pop()
            phis.append(phi)
            bases.append(out - skip_out)
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(phis), torch.cat(bases)


def fit_random_features(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, ridge_rel: float,
                        classes: int = 10) -> nn.Module:
    """A copy of the skip net with U untouched and V = the ridge solution for one-hot targets on (x, labels);
    ridge = ridge_rel * mean(diag(Phi Phi^T)) so the regularisation is scale-free."""
    phi, base = skip_features_and_base(model, x)
    phi = phi.double()
    ridge = ridge_rel * float((phi * phi).sum(dim=1).mean())
    targets = F.one_hot(labels, classes).double() - base.double()
    V = ridge_output_weights(phi, targets, ridge)
    fitted = copy.deepcopy(model)
    with torch.no_grad():
        fitted.skip.weight.copy_(V.T.to(fitted.skip.weight.dtype))
    return fitted
