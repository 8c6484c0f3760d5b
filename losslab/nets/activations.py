"""Activations by name: relu, sigmoid, softplus (beta=20, NMH19 §5), polynomial (LP17 Bezout setting)."""

from __future__ import annotations

import torch
from torch import nn


class Polynomial(nn.Module):
    """sigma(z) = sum_k coefficients[k] * z**k (coefficients in increasing degree)."""

    def __init__(self, coefficients):
        super().__init__()
        self.coefficients = tuple(float(c) for c in coefficients)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(z)
        for c in reversed(self.coefficients):  # Horner
            out = out * z + c
        return out

    def extra_repr(self) -> str:
        return f"coefficients={self.coefficients}"


def make_activation(name="relu") -> nn.Module:
    """'relu' | 'sigmoid' | 'softplus' (beta=20) | 'softplus:<beta>' | ('poly', [c0, c1, ...]) | a Module."""
    if isinstance(name, nn.Module):
        return name
    if isinstance(name, (tuple, list)) and name[0] == "poly":
        return Polynomial(name[1])
    if name == "relu":
        return nn.ReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name.startswith("softplus"):
        beta = float(name.split(":")[1]) if ":" in name else 20.0
        return nn.Softplus(beta=beta)
    raise ValueError(f"unknown activation {name!r}")
