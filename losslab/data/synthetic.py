"""Generated tasks: the cubic regression of WZE17 Fig. 1 and random teacher-network tasks."""

from __future__ import annotations

import torch

from losslab.data.core import Split


def cubic(x: torch.Tensor) -> torch.Tensor:
    """y = x^3 - 3x^2 - x + 1 (WZE17 §2.1, Fig. 1)."""
    return x**3 - 3 * x**2 - x + 1


def cubic_task(seed: int, n: int = 5, noise_std: float = 0.1, low: float = -2.0, high: float = 4.0,
               dtype=torch.float64) -> Split:
    """n points x ~ U(low, high), y = cubic(x) + N(0, noise_std^2) (WZE17 Fig. 1: 5 points, N(0, 0.1)).

    The paper writes N(0, 0.1) without saying variance or std; we read it as std 0.1.
    x, y are N x 1 (regression: y is a float tensor, not labels)."""
    g = torch.Generator().manual_seed(seed)
    x = low + (high - low) * torch.rand(n, 1, generator=g, dtype=dtype)
    y = cubic(x) + noise_std * torch.randn(n, 1, generator=g, dtype=dtype)
    return Split(x, y)


def teacher_task(seed: int, n: int, d: int = 10, hidden: int = 16, classes: int = 2,
                 dtype=torch.float32) -> Split:
    """n Gaussian inputs in R^d labelled by argmax of a random one-hidden-layer ReLU teacher."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    w1 = torch.randn(d, hidden, generator=g, dtype=dtype) / d**0.5
    w2 = torch.randn(hidden, classes, generator=g, dtype=dtype) / hidden**0.5
    y = (torch.relu(x @ w1) @ w2).argmax(dim=1)
    return Split(x, y)


def subset(split: Split, start: int, stop: int | None = None) -> Split:
    """Rows start..stop of a split (WZE17 §5.3: first 512 train images, the rest as attack set)."""
    return Split(split.x[start:stop], split.y[start:stop])
