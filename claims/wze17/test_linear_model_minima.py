"""WZE17 Appendix B: for a model linear in θ (features φ(x), d > N) all global minima of the square
loss share one Hessian, 2/N ΦᵀΦ; distinct minima differ by null-space vectors of Φ. float64."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import hessian

import pytest
from losslab.seeds import claim_seed

DT = torch.float64


def global_minima(Phi, y, gen, count):
    """θ† = Φ⁺y plus random null-space vectors of Φ (all interpolate y)."""
    theta0 = torch.linalg.pinv(Phi) @ y
    _, _, Vh = torch.linalg.svd(Phi)
    null = Vh[Phi.shape[0]:].T                                  # (d, d − N) basis of ker Φ
    return [theta0 + null @ (3 * torch.randn(null.shape[1], generator=gen, dtype=DT)) for _ in range(count)]


@pytest.mark.claim("WZE17-APPB")
def test_linear_model_minima_share_hessian(evidence):
    diffs, seeds = [], []

    @given(N=st.integers(1, 8), extra=st.integers(1, 8), idx=st.integers(0, 10**6))
    @settings(max_examples=20)
    def check(N, extra, idx):
        seed = claim_seed("WZE17-APPB", idx)
        seeds.append(seed)
        gen = torch.Generator().manual_seed(seed)
        d = N + extra
        Phi, y = torch.randn(N, d, generator=gen, dtype=DT), torch.randn(N, generator=gen, dtype=DT)

        def risk(t):
            return ((Phi @ t - y) ** 2).mean()
        minima = global_minima(Phi, y, gen, 3)
        hessians = [hessian(risk)(t) for t in minima]
        assert max(risk(t).item() for t in minima) <= 1e-20
        assert min((minima[0] - t).norm().item() for t in minima[1:]) > 1e-3   # distinct minima
        scale = hessians[0].abs().max().item()
        diff = max((h - hessians[0]).abs().max().item() for h in hessians[1:]) / scale
        diffs.append(diff)
        assert diff <= 1e-10, f"Hessians at global minima differ: rel. {diff:.3g}"
        assert torch.allclose(hessians[0], 2 / N * Phi.T @ Phi, atol=1e-12)

    try:
        check()
    finally:
        evidence.record(measured={"max rel. Hessian difference between minima": max(diffs, default=None)},
                        criterion="Hessians at 3 distinct global minima agree to 1e-10 relative; = 2/N ΦᵀΦ",
                        seeds=seeds, dtype="float64", device="cpu")


@pytest.mark.claim("WZE17-APPB", control=True)
def test_check_rejects_factorized_model(evidence):
    """A nonlinear model f = Σ_j u_j v_j φ_j(x): minima (λu, v/λ) share the fit but not the Hessian."""
    seed = claim_seed("WZE17-APPB", -1)
    gen = torch.Generator().manual_seed(seed)
    N, d = 3, 5
    Phi, y = torch.randn(N, d, generator=gen, dtype=DT), torch.randn(N, generator=gen, dtype=DT)
    w = torch.linalg.pinv(Phi) @ y

    def risk(t):
        return ((Phi @ (t[:d] * t[d:]) - y) ** 2).mean()
    minima = [torch.cat([lam * torch.ones(d, dtype=DT), w / lam]) for lam in (1.0, 4.0)]
    assert max(risk(t).item() for t in minima) <= 1e-20
    h1, h2 = (hessian(risk)(t) for t in minima)
    diff = (h1 - h2).abs().max().item() / h1.abs().max().item()
    evidence.record(measured={"rel. Hessian difference": diff}, criterion="> 1e-10 (check rejects)", seeds=[seed])
    assert diff > 1e-10
