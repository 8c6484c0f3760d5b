"""LI19 Eq. (7)-(8), (13)-(14): for a bias-free ReLU MLP with one output and a loss with l'' = 0
(hinge, absolute), the same-layer Hessian blocks vanish, so tr H = 0 and H is indefinite if non-zero."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import hessian

from losslab.seeds import claim_seed

DT = torch.float64
LOSSES = {
    "hinge": lambda f, y: torch.relu(1 - y * f),
    "absolute": lambda f, y: (f - y).abs(),
    "square": lambda f, y: (f - y) ** 2,   # l'' = 2: outside the claim
}


def relu_mlp_hessian(widths, loss, seed, N):
    """Hessian of the mean loss over θ = (W_1, ..., W_L) flattened, and the layer slices."""
    gen = torch.Generator().manual_seed(seed)
    shapes = list(zip(widths[1:], widths[:-1]))
    sizes = [o * i for o, i in shapes]
    theta = torch.cat([torch.randn(o * i, generator=gen, dtype=DT) / i ** 0.5 for o, i in shapes])
    x = torch.randn(N, widths[0], generator=gen, dtype=DT)
    y = torch.randint(0, 2, (N,), generator=gen).to(DT) * 2 - 1

    def risk(t):
        h, start = x, 0
        for layer, ((o, i), n) in enumerate(zip(shapes, sizes)):
            h = h @ t[start:start + n].reshape(o, i).T
            start += n
            if layer < len(shapes) - 1:
                h = torch.relu(h)
        return LOSSES[loss](h[:, 0], y).mean()
    bounds = torch.cumsum(torch.tensor([0] + sizes), 0).tolist()
    return hessian(risk)(theta), [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.claim("LI19-EQ8")
def test_same_layer_blocks_vanish(evidence):
    worst, nonzero, seeds = [], [], []

    @given(depth=st.integers(2, 4), width=st.integers(1, 6), d=st.integers(1, 5), N=st.integers(1, 10),
           loss=st.sampled_from(["hinge", "absolute"]), idx=st.integers(0, 10**6))
    @settings(max_examples=30)
    def check(depth, width, d, N, loss, idx):
        seed = claim_seed("LI19-EQ8", idx)
        seeds.append(seed)
        H, layers = relu_mlp_hessian([d] + [width] * (depth - 1) + [1], loss, seed, N)
        block_max = max(H[s, s].abs().max().item() for s in layers)
        worst.append(block_max)
        assert block_max <= 1e-12, f"same-layer block max {block_max:.3g} ({loss}, depth {depth})"
        assert abs(torch.trace(H).item()) <= 1e-12
        if H.abs().max().item() > 1e-12:
            eig = torch.linalg.eigvalsh(H)
            nonzero.append(1)
            assert eig[0] < 0 < eig[-1], f"non-zero H not indefinite: {eig[0]:.3g}, {eig[-1]:.3g}"

    try:
        check()
    finally:
        evidence.record(measured={"max |same-layer block entry|": max(worst, default=None),
                                  "examples": len(worst), "examples with H ≠ 0": len(nonzero)},
                        criterion="same-layer blocks ≤ 1e-12, |tr H| ≤ 1e-12, λ_min < 0 < λ_max when H ≠ 0",
                        seeds=seeds, dtype="float64", device="cpu",
                        note="bias-free ReLU MLPs, one output, 2-4 layers; Hessian by torch.func.hessian.")
    assert len(nonzero) >= 10


@pytest.mark.claim("LI19-EQ8", control=True)
def test_check_rejects_square_loss(evidence):
    seed = claim_seed("LI19-EQ8", -1)
    H, layers = relu_mlp_hessian([3, 4, 1], "square", seed, 6)
    block_max = max(H[s, s].abs().max().item() for s in layers)
    evidence.record(measured={"max |same-layer block entry| (square loss)": block_max},
                    criterion="> 1e-12 (check rejects)", seeds=[seed])
    assert block_max > 1e-12
