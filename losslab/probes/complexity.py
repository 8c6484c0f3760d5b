"""Complexity of a fitted function: mean input-gradient energy E‖∇ₓf‖² over a grid (WZE17 Sec. 2.1, Thm. 1),
and the polynomial-kernel ridge regression fit that WZE17 Fig. 1 (right) compares against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


def uniform_midpoint_grid(a: float, b: float, n: int) -> np.ndarray:
    """n midpoints of equal cells of [a, b]: the grid mean is then the midpoint rule for (1/(b-a)) ∫_a^b."""
    h = (b - a) / n
    return a + h * (np.arange(n) + 0.5)


def input_gradient_sq_mean(fn: Callable[[torch.Tensor], torch.Tensor], x_grid: torch.Tensor) -> float:
    """E‖∇ₓf‖² = mean over the grid rows of Σ_j (∂f/∂x_j)², by autograd.

    fn maps a batch (n, d) (or (n,)) to n scalar outputs, each depending on its own row only
    (true for an MLP without batch statistics), so the gradient of Σ outputs gives every row's ∇ₓf.
    """
    x = x_grid.detach().clone().requires_grad_(True)
    out = fn(x).reshape(-1)
    (grad,) = torch.autograd.grad(out.sum(), x)
    return float(grad.reshape(grad.shape[0], -1).pow(2).sum(dim=1).mean())


def input_gradient_sq_mean_numpy(fn: Callable[[np.ndarray], np.ndarray], x_grid: np.ndarray,
                                 derivative: Callable[[np.ndarray], np.ndarray] | None = None,
                                 step: float = 1e-5) -> float:
    """E (f'(x))² over a 1-D float64 grid, from `derivative` if given, else central differences.

    Central difference (f(x+h) − f(x−h)) / 2h has error O(h²·f''') and rounding error O(eps·|f|/h).
    """
    x = np.asarray(x_grid, dtype=np.float64)
    if derivative is not None:
        slope = np.asarray(derivative(x), dtype=np.float64)
    else:
        slope = (np.asarray(fn(x + step)) - np.asarray(fn(x - step))) / (2 * step)
    return float(np.mean(slope ** 2))


@dataclass
class PolynomialKernelRidge:
    """A fitted f(x) = Σ_i α_i (1 + x·x_i)^order on 1-D inputs (float64)."""

    x_train: np.ndarray
    alpha: np.ndarray
    order: int

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (1.0 + np.multiply.outer(x, self.x_train)) ** self.order @ self.alpha

    def derivative(self, x) -> np.ndarray:
        """f'(x) = Σ_i α_i · order · x_i (1 + x·x_i)^(order−1)."""
        x = np.asarray(x, dtype=np.float64)
        base = 1.0 + np.multiply.outer(x, self.x_train)
        return (self.order * base ** (self.order - 1) * self.x_train) @ self.alpha


def polynomial_kernel_ridge(x, y, order: int, lam: float) -> PolynomialKernelRidge:
    """Kernel ridge regression with k(x, x') = (1 + x·x')^order: α = (K + λ·I)^{-1} y.

    WZE17 only says "polynomial kernel" and "regularization parameter 0.01". We take the
    inhomogeneous kernel (1 + x·x')^order and the un-scaled penalty λ·I (not λ·N·I): this is
    scikit-learn's KernelRidge(alpha=λ, kernel="poly", gamma=1, coef0=1), the likely tool in 2017.
    It equals the primal ridge min_w Σ_i (w·φ(x_i) − y_i)² + λ‖w‖² with features
    φ_k(x) = sqrt(C(order, k)) x^k, k = 0..order.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    gram = (1.0 + np.outer(x, x)) ** order
    alpha = np.linalg.solve(gram + lam * np.eye(x.size), y)
    return PolynomialKernelRidge(x_train=x, alpha=alpha, order=order)
