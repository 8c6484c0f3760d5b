"""Instrument tests for losslab.probes.skip_features against exact answers."""

import math

import torch
from torch.func import hessian

from losslab.probes.skip_features import SkipNet, cross_entropy, cross_entropy_hessian_in_V, numerical_rank


def test_fc_feature_matrix_matches_hand_computation():
    net = SkipNet("fc", (2,), (2, 1), ((1,), (0,)), "sigmoid")
    U = torch.arange(1, net.num_params() + 1, dtype=torch.float64) / 10  # w1 (2x2), b1, w2 (2x1), b2
    X = torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=torch.float64)
    h1 = torch.sigmoid(X @ U[:4].reshape(2, 2) + U[4:6])
    h2 = torch.sigmoid(h1 @ U[6:8].reshape(2, 1) + U[8:9])
    assert torch.equal(net.feature_matrix(U, X), torch.cat([h1[:, 1:2], h2], dim=1))


def test_conv_feature_matrix_matches_conv2d():
    net = SkipNet("conv", (1, 3, 3), (2,), ((0, 7),), "softplus", kernel=2)
    U = torch.randn(net.num_params(), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    X = torch.randn(4, 1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = torch.nn.functional.softplus(torch.nn.functional.conv2d(X, U[:8].reshape(2, 1, 2, 2), U[8:]))
    assert torch.equal(net.feature_matrix(U, X), out.reshape(4, -1)[:, [0, 7]])


def test_numerical_rank_matches_numpy_rule():
    A = torch.diag(torch.tensor([1.0, 1e-3, 1e-20], dtype=torch.float64))
    rank, s, tol = numerical_rank(A)
    assert rank == 2 and tol == 3 * torch.finfo(torch.float64).eps


def test_hessian_in_V_matches_closed_form_and_paper_formula_lacks_1_over_N():
    """H_V = (1/N) sum_i phi_i phi_i^T (x) (diag p_i - p_i p_i^T) for V flattened row-major.
    The paper's printed diagonal block (proof of 3.3.4) sum_i p_ij (1 - p_ij) phi_i phi_i^T omits the
    1/N of Eq. 2: it is N times the true block (harmless for the PSD argument)."""
    g = torch.Generator().manual_seed(2)
    n, M, m = 5, 6, 3
    Phi = torch.rand(n, M, dtype=torch.float64, generator=g)
    V = torch.randn(M, m, dtype=torch.float64, generator=g)
    labels = torch.tensor([0, 1, 2, 1, 0])
    H = hessian(lambda v: cross_entropy(Phi @ v, labels))(V).reshape(M * m, M * m)
    P = torch.softmax(Phi @ V, dim=1)
    closed = sum(torch.kron(torch.outer(Phi[i], Phi[i]), torch.diag(P[i]) - torch.outer(P[i], P[i]))
                 for i in range(n)) / n
    assert torch.allclose(H, closed, rtol=0, atol=1e-14)
    block_0 = H.reshape(M, m, M, m)[:, 0, :, 0]
    printed = sum(P[i, 0] * (1 - P[i, 0]) * torch.outer(Phi[i], Phi[i]) for i in range(n))
    assert torch.allclose(printed / n, block_0, atol=1e-14)
    assert not torch.allclose(printed, block_0, atol=1e-3)


def test_cross_entropy_hessian_in_V_matches_autograd_and_stays_psd_when_saturated():
    g = torch.Generator().manual_seed(0)
    Phi, V = torch.rand(6, 4, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    auto = hessian(lambda v: cross_entropy(Phi @ v, labels))(V).reshape(12, 12)
    assert torch.allclose(cross_entropy_hessian_in_V(Phi, V), auto, rtol=1e-12, atol=1e-15)
    # logits 0 / 700: p_y = 1 in float64, A = [[2a, -a, -a], [-a, a, 0], [-a, 0, a]] a = e^-700 (PSD, rank 2)
    A = cross_entropy_hessian_in_V(torch.ones(1, 1, dtype=torch.float64), torch.tensor([[700.0, 0.0, 0.0]],
                                                                                      dtype=torch.float64))
    a = math.exp(-700)
    expected = torch.tensor([[2 * a, -a, -a], [-a, a, -a * a], [-a, -a * a, a]], dtype=torch.float64)
    assert torch.allclose(A, expected, rtol=1e-12, atol=0)
