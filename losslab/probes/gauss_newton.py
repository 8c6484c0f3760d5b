"""Generalized Gauss-Newton part G = Σ_b w_b J_bᵀ H_ℓ J_b of the Hessian and the residual H − G.

For the square loss this is WZE17 Eq. (7): ∇²R = (1/N) Σ_i ∇f_i ∇f_iᵀ (empirical-Fisher /
Gauss-Newton term) + (1/N) Σ_i (f_i − y_i) ∇²f_i (residual term), with the loss-output Hessian
H_ℓ supplying the factor convention (ℓ = (f−y)² gives H_ℓ = 2, i.e. the factor 2 Eq. (7) omits).
Products: J v by jvp, H_ℓ (J v) by vjp of the output-gradient of the loss, Jᵀ(·) by vjp.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, grad, jvp, vjp

from losslab.probes.hessian import HessianOperator


class GaussNewtonOperator(HessianOperator):
    """v ↦ G v; same data, weighting and eval-mode convention as HessianOperator (never keeps graphs)."""

    def __init__(self, model, loss_fn, batches):
        super().__init__(model, loss_fn, batches, method="forward")

    def _hvp_batch(self, v, x, y):  # HessianOperator's matvec and matmat (vmapped) call this per batch
        def outputs(flat):
            return functional_call(self.model, {**self._unflatten(flat), **self.buffers}, (x,))

        out, jv = jvp(outputs, (self.theta,), (v,))
        # H_ℓ (J v) by reverse-over-reverse in output space (H_ℓ symmetric); forward-over-reverse
        # fails for F.mse_loss in torch 2.13 ("ZeroTensors are immutable")
        hjv = vjp(grad(lambda o: self.loss_fn(o, y)), out.detach())[1](jv)[0]
        _, pullback = vjp(outputs, self.theta)
        return pullback(hjv)[0]


class ResidualOperator:
    """v ↦ (H − G) v: the part of the Hessian weighted by the residuals (zero at interpolation)."""

    def __init__(self, model, loss_fn, batches):
        self.hessian = HessianOperator(model, loss_fn, batches)
        self.gauss_newton = GaussNewtonOperator(model, loss_fn, batches)
        self.dim, self.device, self.dtype = self.hessian.dim, self.hessian.device, self.hessian.dtype

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.hessian.matvec(v) - self.gauss_newton.matvec(v)

    __matmul__ = matvec

    def matmat(self, vectors: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        return self.hessian.matmat(vectors, chunk) - self.gauss_newton.matmat(vectors, chunk)
