"""Every Hessian instrument against the exact Hessian of an mLeNet-size convnet (3,781 parameters).

The test model is defined here (the model zoo is built elsewhere): conv 1→6 (5×5), tanh, conv 6→15
(5×5), tanh, conv 15→10 (3×3), global average pooling = 156 + 2,265 + 1,360 = 3,781 parameters,
like WZE17's mLeNet. Inputs are 11×11 so the exact Hessian (3,781 HVPs) stays cheap.
"""

import math

import pytest
import torch
from torch import nn

from losslab.probes.frobenius import frobenius_sq_finite_difference, frobenius_sq_hutchinson
from losslab.probes.hessian import HessianOperator, exact_hessian
from losslab.probes.lanczos import top_eigenvalues
from losslab.probes.spectral_density import gaussian_density, quadrature_nodes_weights
from losslab.probes.trace import hutchinson_trace


def mlenet_size_convnet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.Conv2d(6, 15, 5), nn.Tanh(),
                         nn.Conv2d(15, 10, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())


@pytest.fixture(scope="module")
def problem():
    torch.manual_seed(0)
    model = mlenet_size_convnet().double()
    x = torch.randn(4, 1, 11, 11, dtype=torch.float64)
    y = torch.randint(0, 10, (4,))
    # unequal batches: the operator must weight each batch's mean loss by n_b / N
    op = HessianOperator(model, nn.functional.cross_entropy, [(x[:3], y[:3]), (x[3:], y[3:])])
    h = exact_hessian(op, chunk=512)
    return op, h, torch.linalg.eigvalsh(h)


def test_model_has_mlenet_parameter_count():
    assert sum(p.numel() for p in mlenet_size_convnet().parameters()) == 3781


def test_exact_hessian_matches_autograd_hessian_on_a_block(problem):
    op, h, _ = problem
    # independent reference: torch.autograd.functional.hessian (double backward) of R restricted
    # to the last 60 parameters, the others frozen at θ
    last = slice(op.dim - 60, op.dim)
    ref = torch.autograd.functional.hessian(lambda w: _risk(op, torch.cat([op.theta[: op.dim - 60], w])),
                                            op.theta[last], vectorize=True)
    assert torch.allclose(h[last, last], ref, rtol=0, atol=1e-12 * ref.abs().max().item())


def _risk(op, theta):
    n = sum(x.shape[0] for x, _ in op.batches)
    return sum(x.shape[0] / n * op._batch_loss(theta, x, y) for x, y in op.batches)


def test_hessian_is_symmetric_before_symmetrization(problem):
    op, _, _ = problem
    raw = op.matmat(torch.eye(op.dim, dtype=op.dtype)[:, :100])
    # H e_i for i < 100, rows < 100: the unsymmetrized block must be symmetric to rounding
    block = raw[:100]
    assert (block - block.T).abs().max() <= 1e-12 * block.abs().max()


def test_batches_are_weighted_by_their_size(problem):
    op, h, _ = problem
    x = torch.cat([b[0] for b in op.batches])
    y = torch.cat([b[1] for b in op.batches])
    single = HessianOperator(op.model, nn.functional.cross_entropy, (x, y))
    v = torch.randn(op.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(single.matvec(v), h @ v, rtol=1e-10, atol=1e-12)


def test_linear_operator_is_float64_numpy(problem):
    op, h, _ = problem
    lin = op.to_linear_operator()
    v = torch.randn(op.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = lin.matvec(v.numpy())
    assert out.dtype.name == "float64"
    assert torch.allclose(torch.from_numpy(out), h @ v, rtol=1e-10, atol=1e-12)


def test_lanczos_top_eigenvalues_match_exact(problem):
    op, _, lam = problem
    got = top_eigenvalues(op, 3, which="LA", tol=1e-6, max_steps=150, seed=3)
    want = torch.sort(lam, descending=True).values[:3]
    # the residual bound guarantees |error| <= 1e-6 * max|θ|
    assert (got - want).abs().max() <= 1e-6 * lam.abs().max(), f"{got} vs {want}"


def test_hutchinson_trace_within_four_standard_errors(problem):
    op, h, _ = problem
    est, se = hutchinson_trace(op, probes=20, seed=5, chunk=20)
    exact = torch.trace(h).item()
    assert abs(est - exact) <= 4 * se, f"trace {est} ± {se} vs exact {exact}"
    assert se < abs(exact)  # the estimate is informative, not noise


def test_frobenius_hutchinson_within_four_standard_errors(problem):
    op, h, _ = problem
    exact = h.pow(2).sum().item()
    est = frobenius_sq_hutchinson(op, probes=20, seed=6)
    assert abs(est.value - exact) <= 4 * est.standard_error


def test_frobenius_finite_difference_float64_matches_exact(problem):
    op, h, _ = problem
    exact = h.pow(2).sum().item()
    est = frobenius_sq_finite_difference(op, probes=20, epsilon=1e-4, seed=7)
    assert abs(est.value - exact) <= 4 * est.standard_error, f"{est.value} ± {est.standard_error} vs {exact}"


def test_slq_density_moments_match_exact_trace_moments(problem):
    op, h, lam = problem
    # Gauss quadrature with m nodes is exact for degree ≤ 2m-1: per probe, Σ τ_j θ_j^p = vᵀHᵖv/‖v‖²
    nodes = quadrature_nodes_weights(op, steps=10, probes=1, seed=8)
    from losslab.probes.lanczos import random_start
    for p_idx, (theta, tau) in enumerate(nodes):
        v = random_start(op, 8 + p_idx, rademacher=True)
        v = v / v.norm()
        hv = v
        for p in range(1, 5):
            hv = h @ hv
            assert math.isclose((tau * theta**p).sum().item(), (v @ hv).item(),
                                rel_tol=1e-8, abs_tol=1e-12 * lam.abs().max().item() ** p)
    grid = torch.linspace(lam.min().item() - 0.5, lam.max().item() + 0.5, 2001)
    dens = gaussian_density(nodes, grid, sigma=0.05)
    assert math.isclose(torch.trapezoid(dens, grid).item(), 1.0, rel_tol=1e-3)
