"""The WZE17 2-layer probe against closed forms (Eq. 8) and hand-computed values, float64."""

import math

import pytest
import torch

from losslab.probes.two_layer import (ACTIVATIONS, c_gradients, empirical_risk, fisher_c, hessian_c,
                                      input_gradient_sq_mean, input_gradients, node_scaled,
                                      random_two_layer, residual_term_c, two_layer)

SMOOTH = ["tanh", "sigmoid", "softplus", "softplus4"]


def derivatives(act, z):
    """σ'(z), σ''(z) by autograd (elementwise)."""
    z = z.clone().requires_grad_(True)
    d1 = torch.autograd.grad(act.fn(z).sum(), z, create_graph=True)[0]
    d2 = torch.autograd.grad(d1.sum(), z)[0]
    return d1.detach(), d2


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_c_sigma_is_sup_of_second_derivative(name):
    act = ACTIVATIONS[name]
    z = torch.linspace(-12, 12, 240_001, dtype=torch.float64)
    sup = derivatives(act, z)[1].abs().max().item()
    assert sup == pytest.approx(act.c_sigma, rel=1e-7, abs=1e-12)


def test_c_sigma_closed_forms():
    assert ACTIVATIONS["tanh"].c_sigma == pytest.approx(0.769800358919501)
    assert ACTIVATIONS["sigmoid"].c_sigma == pytest.approx(0.0962250448649376)
    assert ACTIVATIONS["softplus4"].c_sigma == 1.0


def test_two_layer_hand_computed():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    a = torch.tensor([2.0, -1.0], dtype=torch.float64)
    B = torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)  # b_1 = (1, 0), b_2 = (0, -1)
    c = torch.tensor([0.5, 0.0], dtype=torch.float64)
    f = two_layer(x, a, B, c, ACTIVATIONS["relu"])
    assert f.item() == pytest.approx(2 * 1.5 - 1 * 0.0)
    grad_x = input_gradients(x, a, B, c, ACTIVATIONS["relu"])
    assert grad_x.tolist() == [[2.0, 0.0]]  # only node 1 active: a_1 b_1
    y = torch.tensor([1.0], dtype=torch.float64)
    assert empirical_risk(x, y, a, B, c, ACTIVATIONS["relu"]).item() == pytest.approx(4.0)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_pieces_match_eq8_closed_forms(name):
    act = ACTIVATIONS[name]
    x, y, a, B, c = random_two_layer(7, K=5, d=3, N=9)
    s, s2 = derivatives(act, x @ B + c)
    # Eq. (8): ∂f/∂c_k = a_k s_k, ∇ₓf = Σ_k a_k s_k b_k, ∂²f/∂c_k² = a_k σ''_k (diagonal)
    assert torch.allclose(c_gradients(x, a, B, c, act), s * a, atol=1e-13)
    assert torch.allclose(input_gradients(x, a, B, c, act), (s * a) @ B.T, atol=1e-13)
    assert input_gradient_sq_mean(x, a, B, c, act).item() == pytest.approx(
        (((s * a) @ B.T) ** 2).sum(1).mean().item(), rel=1e-13)
    assert torch.allclose(fisher_c(x, a, B, c, act), (s * a).T @ (s * a) / 9, atol=1e-13)
    r = two_layer(x, a, B, c, act) - y
    residual = torch.diag((r[:, None] * s2 * a).mean(0))
    assert torch.allclose(residual_term_c(x, y, a, B, c, act), residual, atol=1e-13)
    # R = (1/N) Σ r²: ∂²R/∂c_k∂c_l = (2/N) Σ (∂f/∂c_k ∂f/∂c_l + r ∂²f/∂c_k∂c_l)
    assert torch.allclose(hessian_c(x, y, a, B, c, act), 2 * (s * a).T @ (s * a) / 9 + 2 * residual,
                          atol=1e-12)


def test_hessian_c_single_node_exact():
    """K = N = d = 1, tanh, x = 0: R = (a tanh c − y)², ∂²R/∂c² = 2a² sech⁴c + 2(a tanh c − y) a σ''(c)."""
    act = ACTIVATIONS["tanh"]
    x = torch.zeros(1, 1, dtype=torch.float64)
    a, B = torch.tensor([1.5], dtype=torch.float64), torch.tensor([[0.3]], dtype=torch.float64)
    c, y = torch.tensor([0.4], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64)
    t = math.tanh(0.4)
    expected = 2 * 1.5 ** 2 * (1 - t * t) ** 2 + 2 * (1.5 * t - 0.2) * 1.5 * (-2 * t * (1 - t * t))
    assert hessian_c(x, y, a, B, c, act).item() == pytest.approx(expected, rel=1e-13)


def test_node_scaled_moves_one_node():
    _, _, a, B, c = random_two_layer(3, K=3, d=2, N=1)
    a2, B2, c2 = node_scaled(a, B, c, k=1, lam=4.0)
    assert a2[1] == a[1] / 4 and torch.equal(B2[:, 1], 4 * B[:, 1]) and c2[1] == 4 * c[1]
    assert a2[0] == a[0] and torch.equal(B2[:, 2], B[:, 2]) and c2[2] == c[2]
