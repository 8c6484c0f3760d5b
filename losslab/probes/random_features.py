"""NMH19 "rand" (Sec. 3 end, Sec. 4): hidden weights U fixed at their random init, only the skip weights V fitted.

With Phi(U) in R^{n x M} the skip-neuron outputs on the n training inputs and B the rest of the network's
output (the base path, also fixed), V solves the ridge problem

    min_V ||Phi V - (Y - B)||_F^2 + ridge * ||V||_F^2,   V = Phi^T (Phi Phi^T + ridge I)^{-1} (Y - B),

Y the one-hot targets. For ridge -> 0 and rank Phi = n (Lemma 3.2: M >= n, almost every U) this is the
minimum-norm exact solution of Phi V = Y - B, so the skip net interpolates Y: zero training error
(Theorem 3.3.1). The paper runs SGD on the convex problem in V instead; both pick a zero-error V.

The dual solve holds the n x n Gram matrix; for large n (the paper's 50,000) fit_random_features_streamed
solves the same ridge problem by conjugate gradients on the primal normal equations
(Phi^T Phi + ridge I) V = Phi^T (Y - B), recomputing Phi batch by batch in every pass: memory O(batch x M + M x C).
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
    gram = phi @ phi.T
    gram.diagonal().add_(ridge)  # in place: no second n x n matrix (the paper's n = 50,000: 20 GB each)
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


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _feature_batches(model: nn.Module, x: torch.Tensor, batch_size: int):
    """Yields (Phi_b, B_b) in float64 on the model's device, batch by batch over x (in order)."""
    device = _model_device(model)
    for start in range(0, len(x), batch_size):
        phi, base = skip_features_and_base(model, x[start:start + batch_size].to(device), batch_size)
        yield phi.double(), base.double()


def block_conjugate_gradient(matvec, rhs: torch.Tensor, max_iters: int, rtol: float) -> tuple[torch.Tensor, dict]:
    """Solve A X = rhs for symmetric positive definite A (given by matvec) by conjugate gradients, every column
    of rhs its own CG run (column-wise step sizes); stops when every ||r_j|| <= rtol ||rhs_j|| or at max_iters.
    Returns (X, {'iterations', 'max_rel_residual'})."""
    X = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rr = (r * r).sum(0)
    rhs_norm = rhs.norm(dim=0).clamp_min(torch.finfo(rhs.dtype).tiny)
    iterations = 0
    while iterations < max_iters and bool(((rr.sqrt() / rhs_norm) > rtol).any()):
        Ap = matvec(p)
        alpha = rr / (p * Ap).sum(0).clamp_min(torch.finfo(rhs.dtype).tiny)
        X += alpha * p
        r -= alpha * Ap
        rr_new = (r * r).sum(0)
        p = r + (rr_new / rr.clamp_min(torch.finfo(rhs.dtype).tiny)) * p
        rr = rr_new
        iterations += 1
    return X, {"iterations": iterations, "max_rel_residual": float((rr.sqrt() / rhs_norm).max())}


@torch.no_grad()
def fit_random_features_streamed(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, ridge_rel: float,
                                 classes: int = 10, batch_size: int = 512, max_iters: int = 500,
                                 rtol: float = 1e-8) -> tuple[nn.Module, dict]:
    """fit_random_features without the n x n Gram matrix: CG on (Phi^T Phi + ridge I) V = Phi^T (Y - B),
    each operator application one forward pass over x in batches (float64 sums). Returns (fitted copy, info)."""
    rhs, row_sq, offset = 0.0, 0.0, 0
    for phi, base in _feature_batches(model, x, batch_size):  # pass 1: Phi^T (Y - B) and mean ||phi_i||^2
        t = F.one_hot(labels[offset:offset + len(phi)].to(phi.device), classes).double() - base
        rhs = rhs + phi.T @ t
        row_sq += float((phi * phi).sum())
        offset += len(phi)
    ridge = ridge_rel * row_sq / len(x)

    def normal_matvec(v: torch.Tensor) -> torch.Tensor:
        out = ridge * v
        for phi, _ in _feature_batches(model, x, batch_size):
            out += phi.T @ (phi @ v)
        return out

    V, info = block_conjugate_gradient(normal_matvec, rhs, max_iters, rtol)
    fitted = copy.deepcopy(model)
    fitted.skip.weight.copy_(V.T.to(fitted.skip.weight.dtype))
    return fitted, dict(info, ridge=ridge)


def fit_random_features(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, ridge_rel: float,
                        classes: int = 10) -> nn.Module:
    """A copy of the skip net with U untouched and V = the ridge solution for one-hot targets on (x, labels);
    ridge = ridge_rel * mean(diag(Phi Phi^T)) so the regularisation is scale-free."""
    phi, base = skip_features_and_base(model, x.to(_model_device(model)))
    return fit_on_features(model, phi, base, labels, ridge_rel, classes)


def fit_on_features(model: nn.Module, phi: torch.Tensor, base: torch.Tensor, labels: torch.Tensor, ridge_rel: float,
                    classes: int = 10) -> nn.Module:
    """fit_random_features given (Phi, B) = skip_features_and_base(model, x) already computed (float64 solve)."""
    phi = phi.double()
    ridge = ridge_rel * float((phi * phi).sum(dim=1).mean())
    targets = F.one_hot(labels.to(phi.device), classes).double() - base.double()
    V = ridge_output_weights(phi, targets, ridge)
    fitted = copy.deepcopy(model)
    with torch.no_grad():
        fitted.skip.weight.copy_(V.T.to(fitted.skip.weight.dtype))
    return fitted
