"""WZE17 Corollary 1 counterexample search: hill-climb LHS/RHS of Eq. (11) as printed and of the corrected
form over 2-layer nets (Eq. 6) and their data; a ratio above 1 would be a counterexample.

printed:   2E‖∇ₓf‖² ≤ ‖∇²_cR‖_F² + ‖B‖_F⁴ + 2C_σ D √R,                D = max_k |a_k|‖b_k‖²
corrected: 2E‖∇ₓf‖² ≤ ½(‖∇²_cR‖_F² + ‖B‖_F⁴) + 2C_σ √R Σ_k |a_k|‖b_k‖²  (the proof with its factor 2 and Σ_k)
E and R are means over the training set (the Monte-Carlo term is 0).
"""

from __future__ import annotations

import numpy as np
import torch

from losslab.probes.two_layer import ACTIVATIONS, empirical_risk, hessian_c, input_gradient_sq_mean

SMOOTH = ("tanh", "sigmoid", "softplus")  # C_σ > 0: the √R term is live


def corollary1_terms(x, y, a, B, c, act):
    """(2E‖∇ₓf‖², ‖∇²_cR‖_F², ‖B‖_F⁴, √R, D, Σ_k |a_k|‖b_k‖²) with E, R over the training set."""
    col_sq = (B ** 2).sum(0)
    return (2 * input_gradient_sq_mean(x, a, B, c, act).item(),
            (hessian_c(x, y, a, B, c, act) ** 2).sum().item(), ((B ** 2).sum() ** 2).item(),
            empirical_risk(x, y, a, B, c, act).sqrt().item(), (a.abs() * col_sq).max().item(),
            (a.abs() * col_sq).sum().item())


def ratios(x, y, a, B, c, act) -> dict:
    """LHS/RHS of the printed and the corrected form."""
    lhs, hess_sq, b4, sqrt_r, D, sum_ab = corollary1_terms(x, y, a, B, c, act)
    printed = hess_sq + b4 + 2 * act.c_sigma * D * sqrt_r
    corrected = 0.5 * (hess_sq + b4) + 2 * act.c_sigma * sqrt_r * sum_ab
    return {"printed": lhs / printed if printed > 0 else 0.0, "corrected": lhs / corrected if corrected > 0 else 0.0}


def search(seed: int, starts: int, steps: int, form: str, max_width: int = 8) -> dict:
    """Best `form` ratio over `starts` random nets (K <= max_width, d <= 4, N <= 8, log-uniform scales
    1e-2..1e2, a smooth activation), each hill-climbed `steps` times by multiplicative log-normal moves."""
    rng = np.random.default_rng(seed)
    best = {"ratio": 0.0}
    for start in range(starts):
        name = SMOOTH[start % len(SMOOTH)]
        act = ACTIVATIONS[name]
        K, d, N = int(rng.integers(1, max_width + 1)), int(rng.integers(1, 5)), int(rng.integers(1, 9))
        params = [torch.from_numpy(rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 2))
                  for shape in ((N, d), (N,), (K,), (d, K), (K,))]
        current = ratios(*params, act)[form]
        step = 0.3
        for _ in range(steps):
            moved = [p * torch.from_numpy(np.exp(step * rng.normal(size=p.shape))) for p in params]
            value = ratios(*moved, act)[form]
            if value > current:
                params, current = moved, value
        if current > best["ratio"]:
            best = {"ratio": current, "activation": name, "K": K, "d": d, "N": N, "start": start}
    return {**best, "form": form, "starts": starts, "steps": steps, "seed": seed}
