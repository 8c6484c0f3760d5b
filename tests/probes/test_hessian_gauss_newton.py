"""GaussNewtonOperator and ResidualOperator against exact answers.

Reference: the explicit Jacobian J_b = ∂f(x_b)/∂θ (torch.func.jacrev) and the explicit loss-output
Hessian H_ℓ,b = ∂²ℓ/∂f² (torch.func.hessian), assembled as G = Σ_b (n_b/N) J_bᵀ H_ℓ,b J_b.
"""

import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

from losslab.probes.gauss_newton import GaussNewtonOperator, ResidualOperator
from losslab.probes.hessian import HessianOperator, exact_hessian



LOSSES = {"mse": nn.functional.mse_loss, "cross_entropy": nn.functional.cross_entropy}


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4)).double()  # 44 parameters


def batches_for(loss: str):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    if loss == "mse":
        y = torch.randn(7, 4, generator=g, dtype=torch.float64)
    else:
        y = torch.randint(0, 4, (7,), generator=g)
    return [(x[:5], y[:5]), (x[5:], y[5:])]  # unequal batches: weights 5/7 and 2/7


def explicit_gauss_newton(op: HessianOperator) -> torch.Tensor:
    """Σ_b w_b J_bᵀ H_ℓ,b J_b with J_b and H_ℓ,b as dense tensors."""
    g = torch.zeros(op.dim, op.dim, dtype=op.dtype)
    for w, (x, y) in zip(op.weights, op.batches):
        def outputs(flat):
            return functional_call(op.model, {**op._unflatten(flat), **op.buffers}, (x,))

        out = outputs(op.theta).detach()
        jac = jacrev(outputs)(op.theta).reshape(out.numel(), op.dim)
        h_out = hessian(lambda o: op.loss_fn(o, y))(out).reshape(out.numel(), out.numel())
        g += w * jac.T @ h_out @ jac
    return g


def dense(op) -> torch.Tensor:
    return op.matmat(torch.eye(op.dim, dtype=torch.float64))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_gauss_newton_equals_explicit_jacobian_product(loss):
    model = small_net()
    ggn = GaussNewtonOperator(model, LOSSES[loss], batches_for(loss))
    want = explicit_gauss_newton(ggn)
    got = dense(ggn)
    assert torch.allclose(got, want, rtol=0, atol=1e-13 * want.abs().max()), \
        f"{loss}: max |G - JᵀH_ℓJ| = {(got - want).abs().max():.3e}"
    # convex losses: H_ℓ ⪰ 0, so G ⪰ 0 even where the Hessian is indefinite
    assert torch.linalg.eigvalsh((got + got.T) / 2).min() >= -1e-12 * want.abs().max()


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_gauss_newton_plus_residual_is_the_exact_hessian(loss):
    model = small_net()
    batches = batches_for(loss)
    h = exact_hessian(HessianOperator(model, LOSSES[loss], batches))
    ggn = dense(GaussNewtonOperator(model, LOSSES[loss], batches))
    residual = dense(ResidualOperator(model, LOSSES[loss], batches))
    scale = h.abs().max()
    assert torch.allclose(ggn + residual, h, rtol=0, atol=1e-12 * scale)
    # away from a minimum the residual term is a real part of H, not rounding
    assert residual.abs().max() > 1e-3 * scale


def test_model_linear_in_parameters_with_mse_has_h_equal_g():
    """f(θ) = W φ(x) + b is linear in θ, so ∇²f = 0 and H = G = (2/(N·C)) Σ_i J_iᵀJ_i (mean MSE)."""
    torch.manual_seed(2)
    model = nn.Linear(3, 2).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(9, 3, generator=g, dtype=torch.float64)
    y = torch.randn(9, 2, generator=g, dtype=torch.float64)
    h = exact_hessian(HessianOperator(model, nn.functional.mse_loss, (x, y)))
    ggn = dense(GaussNewtonOperator(model, nn.functional.mse_loss, (x, y)))
    residual = dense(ResidualOperator(model, nn.functional.mse_loss, (x, y)))
    assert torch.allclose(ggn, h, rtol=0, atol=1e-14 * h.abs().max())
    assert residual.abs().max() <= 1e-14 * h.abs().max()
    # closed form: H = (2/(N·C)) (I_C ⊗ X̃ᵀX̃) with X̃ = [x, 1], in the (W row-major, b) order
    xt = torch.cat([x, torch.ones(9, 1, dtype=torch.float64)], dim=1)
    gram = 2 / (9 * 2) * xt.T @ xt
    closed = torch.zeros(8, 8, dtype=torch.float64)
    w_idx = [[0, 1, 2, 6], [3, 4, 5, 7]]  # output c: weights W[c, :] then bias b[c]
    for idx in w_idx:
        closed[torch.tensor(idx)[:, None], torch.tensor(idx)] = gram
    assert torch.allclose(h, closed, rtol=0, atol=1e-14 * closed.abs().max())


def test_check_rejects_gauss_newton_without_loss_hessian():
    """Negative control: JᵀJ (H_ℓ replaced by I, i.e. WZE17 Eq. (7) without the loss factor) is
    rejected by the same comparison that accepts the operator."""
    model = small_net()
    ggn = GaussNewtonOperator(model, nn.functional.mse_loss, batches_for("mse"))
    want = explicit_gauss_newton(ggn)
    wrong = torch.zeros_like(want)
    for w, (x, _) in zip(ggn.weights, ggn.batches):
        def outputs(flat):
            return functional_call(ggn.model, {**ggn._unflatten(flat), **ggn.buffers}, (x,))

        jac = jacrev(outputs)(ggn.theta).reshape(-1, ggn.dim)
        wrong += w * jac.T @ jac / x.shape[0]  # the 1/N of the mean, but no 2/C from ℓ
    assert not torch.allclose(wrong, want, rtol=0, atol=1e-13 * want.abs().max())
    # ... and the difference is exactly the missing factor 2/C = 1/2 for C = 4 outputs
    assert torch.allclose(wrong * 2 / 4, want, rtol=0, atol=1e-13 * want.abs().max())
