"""The 2-layer network of WZE17 Eq. (6), f(x) = Σ_k a_k σ(b_kᵀx + c_k), and its named pieces.

Shapes: x (N, d), a (K,), B (d, K) with columns b_k (the paper's B = (b_1, ..., b_K)), c (K,).
Everything is plain torch; derivatives come from torch.func so they can be checked against the
closed forms of WZE17 Eq. (8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.func import grad, hessian, jacrev, vmap


@dataclass(frozen=True)
class Activation:
    """An activation σ with C_σ = sup |σ''| (WZE17 Corollary 1)."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    c_sigma: float


def softplus(beta: float) -> Activation:
    """σ(z) = log(1 + e^{βz}) / β; σ'' = β·s(1 − s) with s = sigmoid(βz), so C_σ = β/4."""
    return Activation(f"softplus{beta:g}", lambda z: torch.nn.functional.softplus(z, beta=beta), beta / 4)


ACTIVATIONS = {
    "relu": Activation("relu", torch.relu, 0.0),                          # σ'' = 0 a.e.
    "tanh": Activation("tanh", torch.tanh, 4 / (3 * math.sqrt(3))),       # max |−2 tanh·sech²|
    "sigmoid": Activation("sigmoid", torch.sigmoid, 1 / (6 * math.sqrt(3))),  # max |s(1−s)(1−2s)|
    "softplus": softplus(1.0),
    "softplus4": softplus(4.0),
}


def two_layer(x, a, B, c, act: Activation):
    """f(x_i) for every row of x: σ(x B + c) a (WZE17 Eq. 6)."""
    return act.fn(x @ B + c) @ a


def empirical_risk(x, y, a, B, c, act: Activation):
    """R_emp = (1/N) Σ_i (f(x_i) − y_i)², as printed in WZE17 Sec. 4."""
    return ((two_layer(x, a, B, c, act) - y) ** 2).mean()


def input_gradients(x, a, B, c, act: Activation):
    """∇ₓf(x_i) for every row (N, d), by autograd."""
    def f_one(xi):
        return two_layer(xi[None], a, B, c, act)[0]
    return vmap(grad(f_one))(x)


def input_gradient_sq_mean(x, a, B, c, act: Activation):
    """E‖∇ₓf‖² with E the empirical mean over the rows of x."""
    return (input_gradients(x, a, B, c, act) ** 2).sum(dim=1).mean()


def c_gradients(x, a, B, c, act: Activation):
    """∂f(x_i)/∂c (N, K), by autograd; Eq. (8): ∂f/∂c_k = a_k σ'(b_kᵀx + c_k)."""
    return jacrev(lambda cc: two_layer(x, a, B, cc, act))(c)


def fisher_c(x, a, B, c, act: Activation):
    """I_c(k1, k2) = E[∂f/∂c_k1 ∂f/∂c_k2], E over the rows of x (K, K)."""
    g = c_gradients(x, a, B, c, act)
    return g.T @ g / x.shape[0]


def hessian_c(x, y, a, B, c, act: Activation):
    """∇²_c R_emp (K, K), by autograd."""
    return hessian(lambda cc: empirical_risk(x, y, a, B, cc, act))(c)


def residual_term_c(x, y, a, B, c, act: Activation):
    """(1/N) Σ_i r_i ∇²_c f(x_i) with r_i = f(x_i) − y_i (K, K), by autograd; diagonal by Eq. (8)."""
    r = two_layer(x, a, B, c, act) - y
    hess_f = vmap(lambda xi: hessian(lambda cc: two_layer(xi[None], a, B, cc, act)[0])(c))(x)
    return torch.einsum("i,ikl->kl", r, hess_f) / x.shape[0]


def node_scaled(a, B, c, k: int, lam: float):
    """(a_k, b_k, c_k) → (a_k/λ, λ b_k, λ c_k) for node k (Neyshabur et al. 2015)."""
    a, B, c = a.clone(), B.clone(), c.clone()
    a[k] /= lam
    B[:, k] *= lam
    c[k] *= lam
    return a, B, c


def random_two_layer(seed: int, K: int, d: int, N: int, x_scale=1.0, a_scale=1.0, b_scale=1.0,
                     c_scale=1.0, dtype=torch.float64):
    """(x, y, a, B, c) drawn from N(0, scale²) with a seeded generator."""
    gen = torch.Generator().manual_seed(seed)

    def normal(*shape, scale):
        return torch.randn(*shape, generator=gen, dtype=dtype) * scale

    return (normal(N, d, scale=x_scale), normal(N, scale=1.0), normal(K, scale=a_scale),
            normal(d, K, scale=b_scale), normal(K, scale=c_scale))


def flat_mlp(theta: torch.Tensor, x: torch.Tensor, shapes, activation=torch.relu) -> torch.Tensor:
    """f(θ, x) of an MLP with biases and one output, θ one flat vector (per layer: W (out, in), then b).

    shapes: [(out, in), ...] per layer; `activation` after every layer but the last. Returns f of shape x.shape[:-1].
    """
    h, start = x, 0
    for layer, (o, i) in enumerate(shapes):
        w = theta[start:start + o * i].reshape(o, i)
        b = theta[start + o * i:start + o * i + o]
        start += o * i + o
        h = h @ w.T + b
        if layer < len(shapes) - 1:
            h = activation(h)
    return h[..., 0]
