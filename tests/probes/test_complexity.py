"""The complexity probe and polynomial kernel ridge against exact answers."""

from math import comb

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from losslab.probes.complexity import (input_gradient_sq_mean, input_gradient_sq_mean_numpy,
                                       polynomial_kernel_ridge, uniform_midpoint_grid)


def exact_cubic_gradient_energy(a, b):
    """f = x³: (1/(b−a)) ∫_a^b (3x²)² dx = 9 (b⁵ − a⁵) / (5 (b − a))."""
    return 9 * (b ** 5 - a ** 5) / (5 * (b - a))


@pytest.mark.parametrize("a, b", [(-2.0, 4.0), (0.0, 1.0), (-1.0, 1.0)])
def test_autograd_gradient_energy_of_cubic(a, b):
    grid = torch.tensor(uniform_midpoint_grid(a, b, 4001), dtype=torch.float64)
    measured = input_gradient_sq_mean(lambda x: x ** 3, grid)
    # midpoint rule error ≈ (b−a)² / (24 n²) · mean |g''|, far below 1e-6 relative here
    assert measured == pytest.approx(exact_cubic_gradient_energy(a, b), rel=1e-6)


def test_autograd_gradient_energy_sums_over_input_dimensions():
    # f(x) = 2 x₁ − 3 x₂ + x₁ x₂ on points x: ∇f = (2 + x₂, −3 + x₁), exact per point
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-1.0, 3.0]], dtype=torch.float64)
    exact = np.mean([(2 + p[1]) ** 2 + (-3 + p[0]) ** 2 for p in x.tolist()])
    measured = input_gradient_sq_mean(lambda z: 2 * z[:, 0] - 3 * z[:, 1] + z[:, 0] * z[:, 1], x)
    assert measured == pytest.approx(exact, rel=1e-14)


@pytest.mark.parametrize("a, b", [(-2.0, 4.0), (-1.0, 1.0)])
def test_numpy_gradient_energy_of_cubic_by_differences_and_derivative(a, b):
    grid = uniform_midpoint_grid(a, b, 4001)
    exact = exact_cubic_gradient_energy(a, b)
    by_difference = input_gradient_sq_mean_numpy(lambda x: x ** 3, grid, step=1e-5)
    by_derivative = input_gradient_sq_mean_numpy(lambda x: x ** 3, grid, derivative=lambda x: 3 * x ** 2)
    assert by_difference == pytest.approx(exact, rel=1e-6)
    assert by_derivative == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("order", [1, 3, 6, 9])
def test_kernel_ridge_without_penalty_interpolates_order_plus_one_points(order):
    x = np.linspace(-1.0, 1.5, order + 1)
    y = np.sin(3 * x) + x
    fit = polynomial_kernel_ridge(x, y, order=order, lam=0.0)
    assert np.allclose(fit(x), y, rtol=0, atol=1e-8)


@given(order=st.integers(1, 6), lam=st.floats(1e-3, 10.0), seed=st.integers(0, 2 ** 16))
def test_kernel_ridge_equals_primal_ridge_on_scaled_monomials(order, lam, seed):
    # dual (K + λI)^{-1} y  ==  primal w = (ΦᵀΦ + λI)^{-1} Φᵀ y with φ_k(x) = sqrt(C(p,k)) x^k
    rng = np.random.default_rng(seed)
    x, y, x_new = rng.uniform(-1.5, 1.5, 7), rng.normal(size=7), rng.uniform(-1.5, 1.5, 5)
    features = lambda z: np.stack([np.sqrt(comb(order, k)) * z ** k for k in range(order + 1)], axis=1)
    phi = features(x)
    w = np.linalg.solve(phi.T @ phi + lam * np.eye(order + 1), phi.T @ y)
    fit = polynomial_kernel_ridge(x, y, order=order, lam=lam)
    assert np.allclose(fit(x_new), features(x_new) @ w, rtol=1e-8, atol=1e-8)


def test_kernel_ridge_derivative_matches_central_differences():
    x = np.array([-2.0, -0.5, 1.0, 2.5, 4.0])
    fit = polynomial_kernel_ridge(x, x ** 3 - 3 * x ** 2 - x + 1, order=8, lam=0.01)
    grid = uniform_midpoint_grid(-2.0, 4.0, 301)
    analytic = input_gradient_sq_mean_numpy(fit, grid, derivative=fit.derivative)
    differenced = input_gradient_sq_mean_numpy(fit, grid, step=1e-5)
    assert differenced == pytest.approx(analytic, rel=1e-6)


def test_order_one_kernel_ridge_closed_form():
    # order 1, features (1, x); with λ = 0 and 2 points the fit is the line through them
    fit = polynomial_kernel_ridge([0.0, 2.0], [1.0, 5.0], order=1, lam=0.0)
    assert fit(np.array([1.0, -1.0])) == pytest.approx([3.0, -1.0], abs=1e-12)
    assert fit.derivative(np.array([0.3])) == pytest.approx([2.0], abs=1e-12)
