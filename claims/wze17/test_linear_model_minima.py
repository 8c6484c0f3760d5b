"""WZE17 Appendix B: for a model linear in θ (features φ(x), d > N) all global minima of the square loss
share one Hessian, 2/N ΦᵀΦ (an identity: the Hessian is constant in θ); contrast: a model non-linear in θ,
f = Φ(u ⊙ v), has minima (λu, v/λ) with the same fit and different Hessians. float64."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import hessian

from losslab.seeds import claim_seed

DT = torch.float64


def global_minima(Phi, y, gen, count):
    """θ† = Φ⁺y plus random null-space vectors of Φ (all interpolate y)."""
    theta0 = torch.linalg.pinv(Phi) @ y
    _, _, Vh = torch.linalg.svd(Phi)
    null = Vh[Phi.shape[0]:].T                                  # (d, d − N) basis of ker Φ
    return [theta0 + null @ (3 * torch.randn(null.shape[1], generator=gen, dtype=DT)) for _ in range(count)]


def relative_hessian_difference(risk, minima) -> float:
    """max over minima of max|H(θ) − H(θ_0)| / max|H(θ_0)|."""
    hessians = [hessian(risk)(t) for t in minima]
    scale = hessians[0].abs().max().item()
    return max((h - hessians[0]).abs().max().item() for h in hessians[1:]) / scale


def _factorized_minima(seed):
    """N = 3 points, d = 5 features: the risk of f = Φ(u ⊙ v) and its global minima (λ·1, w/λ), λ = 1, 4."""
    gen = torch.Generator().manual_seed(seed)
    N, d = 3, 5
    Phi, y = torch.randn(N, d, generator=gen, dtype=DT), torch.randn(N, generator=gen, dtype=DT)
    w = torch.linalg.pinv(Phi) @ y

    def risk(t):
        return ((Phi @ (t[:d] * t[d:]) - y) ** 2).mean()
    return risk, [torch.cat([lam * torch.ones(d, dtype=DT), w / lam]) for lam in (1.0, 4.0)], Phi, y


@pytest.mark.claim("WZE17-APPB", parts=["linear"])
def test_linear_model_minima_share_hessian(evidence, claim):
    diffs, seeds = [], []
    tol, fit_tol, apart = (claim.threshold(n) for n in ("hessian_tolerance", "interpolation_tolerance",
                                                        "distinct_minima"))

    @given(N=st.integers(1, 8), extra=st.integers(1, 8), idx=st.integers(0, 10**6))
    @settings(max_examples=20)
    def check(N, extra, idx):
        seed = claim_seed("WZE17-APPB", idx)
        seeds.append(seed)
        gen = torch.Generator().manual_seed(seed)
        Phi, y = torch.randn(N, N + extra, generator=gen, dtype=DT), torch.randn(N, generator=gen, dtype=DT)

        def risk(t):
            return ((Phi @ t - y) ** 2).mean()
        minima = global_minima(Phi, y, gen, 3)
        assert max(risk(t).item() for t in minima) <= fit_tol
        assert min((minima[0] - t).norm().item() for t in minima[1:]) > apart
        diffs.append(relative_hessian_difference(risk, minima))
        assert diffs[-1] <= tol, f"Hessians at global minima differ: rel. {diffs[-1]:.3g}"
        gauss_newton = 2 / N * Phi.T @ Phi
        assert (hessian(risk)(minima[0]) - gauss_newton).abs().max().item() <= tol

    try:
        check()
    finally:
        evidence.headline("max relative Hessian difference between global minima (identity)", max(diffs, default=0))
        evidence.record(seeds=seeds, dtype="float64", device="cpu",
                        note="an identity: the square loss of a linear model has the constant Hessian 2/N ΦᵀΦ")


@pytest.mark.claim("WZE17-APPB", parts=["nonlinear_contrast"])
def test_nonlinear_model_minima_differ_in_hessian(evidence, claim):
    """f = Φ(u ⊙ v): (u, v) and (λu, v/λ) fit the data identically, yet their Hessians differ."""
    seed = claim_seed("WZE17-APPB", -1)
    risk, minima, _, _ = _factorized_minima(seed)
    diff = relative_hessian_difference(risk, minima)
    evidence.headline("relative Hessian difference between two global minima, f = Φ(u ⊙ v)", diff)
    evidence.record(seeds=[seed], dtype="float64")
    assert max(risk(t).item() for t in minima) <= claim.threshold("interpolation_tolerance")
    assert diff > claim.threshold("hessian_tolerance")


@pytest.mark.claim("WZE17-APPB", parts=["nonlinear_contrast"], control=True)
def test_control_contrast_check_rejects_the_linear_model(evidence, claim):
    """The same data with the product u ⊙ v replaced by one linear θ (the non-linearity in θ removed)."""
    seed = claim_seed("WZE17-APPB", -1)
    _, _, Phi, y = _factorized_minima(seed)
    minima = global_minima(Phi, y, torch.Generator().manual_seed(seed), 2)
    diff = relative_hessian_difference(lambda t: ((Phi @ t - y) ** 2).mean(), minima)
    evidence.record(removes="the non-linearity in θ: f = Φθ on the same data")
    evidence.headline("relative Hessian difference between two global minima, f = Φθ", diff)
    assert not diff > claim.threshold("hessian_tolerance")
