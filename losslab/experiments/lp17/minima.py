"""LP17 Prop. 1 / Cor. 1: zero-error and non-zero minima of tiny regression nets, verified and counted.

Nets R^3 -> h -> R (K = 5h + 1 weights) trained full-batch in float64 with L-BFGS on the square loss
L(θ) = 1/2 Σ_i (f(x_i; θ) - y_i)^2 on x ~ N(0, I), y ~ N(0, 1); exact Hessians by torch.func.hessian.
A point is called a minimum only if it passes `minimum_check` (stationary and no negative curvature).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

INPUT_DIM = 3
# smooth activations only: at a ReLU kink the Hessian, and so the curvature check, is undefined
ACTIVATIONS = {"poly z+z^2": lambda z: z + z**2, "tanh": torch.tanh}


class Activation(nn.Module):
    """An elementwise function as a module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, z):
        return self.fn(z)


def make_net(activation: str, width: int) -> nn.Module:
    """Linear(3, width) -> activation -> Linear(width, 1), float64, from the global torch seed."""
    return nn.Sequential(nn.Linear(INPUT_DIM, width), Activation(ACTIVATIONS[activation]),
                         nn.Linear(width, 1)).double()


def flat_output(net: nn.Module):
    """θ, x -> net(x) with the parameters taken from the flat vector θ (in net.parameters() order)."""
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]

    def unflatten(theta):
        out, k = {}, 0
        for n, s in zip(names, shapes):
            out[n] = theta[k:k + s.numel()].reshape(s)
            k += s.numel()
        return out
    return lambda theta, x: functional_call(net, unflatten(theta), (x,))


def square_loss(net: nn.Module, x, y):
    """(θ -> 1/2 ||f(x; θ) - y||^2, θ -> residuals f(x; θ) - y) over the flat parameter vector θ."""
    output = flat_output(net)

    def residuals(theta):
        return output(theta, x).squeeze(-1) - y
    return (lambda theta: 0.5 * (residuals(theta) ** 2).sum()), residuals


def lbfgs(loss, theta0, rounds: int = 1, max_iter: int = 300) -> torch.Tensor:
    """Full-batch L-BFGS (strong Wolfe) from θ0, `rounds` restarts of <= max_iter iterations (stops at |∇L| 1e-13)."""
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([theta], lr=1, max_iter=max_iter, history_size=50, tolerance_grad=1e-13,
                            tolerance_change=1e-300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = loss(theta)
        value.backward()
        return value
    for _ in range(rounds):
        opt.step(closure)
    return theta.detach()


def newton_polish(loss, theta, steps: int = 20) -> torch.Tensor:
    """Least-squares Newton steps θ <- θ - H⁺∇L, halved until the loss does not rise, until |∇L| <= 1e-13:
    quadratic convergence at a non-degenerate minimum, where L-BFGS stalls on ill-conditioning."""
    for _ in range(steps):
        g = torch.func.grad(loss)(theta)
        if float(g.norm()) <= 1e-13:
            break
        step = torch.linalg.lstsq(hessian(loss)(theta), g.unsqueeze(1)).solution.squeeze(1)
        base, t = float(loss(theta)), 1.0
        while t > 1e-8 and float(loss(theta - t * step)) > base:
            t /= 2
        theta = theta - t * step
    return theta


@dataclass
class Point:
    """A trained point and its verification (all eigenvalues relative to ||H|| = max |λ|)."""

    activation: str
    width: int
    n_points: int
    seed: int
    init: int
    K: int
    loss: float
    gradient_norm: float
    eigenvalues: torch.Tensor  # λ / ||H||, ascending
    weyl: float  # ||H - JᵀJ|| / ||H||: the residual term of the Hessian

    def zero_eigenvalues(self, tol: float) -> int:
        return int((self.eigenvalues.abs() <= tol).sum())

    def is_minimum(self, gradient_tol: float, eigenvalue_tol: float) -> bool:
        """Stationary (||∇L|| <= gradient_tol) and no direction of negative curvature (λ_min >= -tol)."""
        return self.gradient_norm <= gradient_tol and float(self.eigenvalues[0]) >= -eigenvalue_tol

    def row(self, eigenvalue_tol: float) -> dict:
        return {"activation": self.activation, "width": self.width, "K": self.K, "N": self.n_points,
                "seed": self.seed, "init": self.init, "loss": self.loss, "|grad L|": self.gradient_norm,
                "lambda_min/|H|": float(self.eigenvalues[0]), "zero eigenvalues": self.zero_eigenvalues(eigenvalue_tol),
                "|H - JtJ|/|H|": self.weyl}


def measure(activation: str, width: int, n_points: int, seed: int, init: int = 0, train: bool = True) -> Point:
    """Data from `seed`, init from (seed, init); train to convergence (or not) and measure the point."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_points, INPUT_DIM, generator=g, dtype=torch.float64)
    y = torch.randn(n_points, generator=g, dtype=torch.float64)
    torch.manual_seed(1000 * seed + init)
    net = make_net(activation, width)
    loss, residuals = square_loss(net, x, y)
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    if train:
        theta = newton_polish(loss, lbfgs(loss, theta))
    grad = torch.func.grad(loss)(theta)
    H = hessian(loss)(theta)
    J = jacrev(residuals)(theta)
    evals = torch.linalg.eigvalsh(H)
    norm = evals.abs().max()
    weyl = torch.linalg.matrix_norm(H - J.T @ J, ord=2) / norm
    return Point(activation, width, n_points, seed, init, theta.numel(), float(loss(theta)), float(grad.norm()),
                 evals / norm, float(weyl))


def verified_minimum(activation: str, width: int, n_points: int, seed: int, gradient_tol: float,
                     eigenvalue_tol: float, loss_max: float = float("inf"), inits: int = 3
                     ) -> tuple[Point, list[Point]]:
    """The first of `inits` initialisations that ends at a verified minimum with loss <= loss_max (or the last
    tried), and all tried: a ReLU net can stall with dead units, so a failed start is retried and reported."""
    tried = []
    for init in range(inits):
        tried.append(measure(activation, width, n_points, seed, init))
        if tried[-1].is_minimum(gradient_tol, eigenvalue_tol) and tried[-1].loss <= loss_max:
            break
    return tried[-1], tried
