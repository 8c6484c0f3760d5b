"""Lanczos, SLQ density, trace and Frobenius estimators on matrices with known spectra,
plus negative controls (no reorthogonalization → ghosts; a wrong-sign product is detected)."""

import math

import pytest
import torch
from torch import nn

from losslab.probes.frobenius import frobenius_sq_exact_hvps, frobenius_sq_hutchinson
from losslab.probes.hessian import HessianOperator, exact_hessian
from losslab.probes.lanczos import lanczos, random_start, ritz_relative_residuals, top_eigenvalues
from losslab.probes.log_volume import log_volume, log_volume_lanczos
from losslab.probes.operators import MatrixOperator, matrix_with_spectrum
from losslab.probes.spectral_density import (exact_gaussian_density, gaussian_density,
                                             quadrature_nodes_weights)
from losslab.probes.trace import hutchinson_trace

# a Hessian-like spectrum: a few outliers, a bulk near zero, a few negative values
SPECTRUM = torch.cat([torch.tensor([50.0, 20.0, 10.0, 5.0, 3.0]), torch.linspace(-0.5, 1.0, 295)]).double()
# a hard one for Lanczos: a close top pair (gap 1.25 %, like the benchmark convnet's) over a wide bulk
CLOSE_PAIR = torch.cat([torch.tensor([4.0, 3.95, 2.8, 2.5]), torch.linspace(-0.3, 2.0, 296)]).double()


@pytest.fixture(scope="module")
def op():
    return MatrixOperator(matrix_with_spectrum(SPECTRUM, seed=0))


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_top_eigenvalues_known_spectrum(op, which):
    k = 4
    key = {"LA": -SPECTRUM, "SA": SPECTRUM, "LM": -SPECTRUM.abs()}[which]
    want = SPECTRUM[torch.argsort(key)[:k]].double()
    got = top_eigenvalues(op, k, which=which, tol=1e-10, max_steps=300, seed=1)
    assert (got - want).abs().max() <= 1e-9 * 50, f"{which}: {got} vs {want}"


def _relative_errors(spectrum, k, tol):
    op = MatrixOperator(matrix_with_spectrum(spectrum, seed=0))
    want = torch.sort(spectrum, descending=True).values[:k]
    got = top_eigenvalues(op, k, which="LA", tol=tol, seed=1)
    return ((got - want).abs() / want.abs()).max().item()


# (k = 10 reaches into the dense bulk, where tol < 1e-3 needs more than the default 100 steps)
CASES = [(k, tol) for k in (1, 4) for tol in (1e-2, 1e-3, 1e-5)] + [(10, 1e-2), (10, 1e-3)]


@pytest.mark.parametrize("k,tol", CASES)
@pytest.mark.parametrize("name", ["outliers", "close_pair"])
def test_top_eigenvalues_meet_the_requested_relative_accuracy(name, k, tol):
    spectrum = {"outliers": SPECTRUM, "close_pair": CLOSE_PAIR}[name]
    err = _relative_errors(spectrum, k, tol)
    assert err <= tol, f"{name} top-{k}: max relative error {err:.2e} > tol {tol:g}"


def test_tighter_tol_gives_tighter_error():
    tols = [1e-1, 1e-2, 1e-3, 1e-4, 1e-6]
    for k in (1, 4):
        errors = [_relative_errors(CLOSE_PAIR, k, tol) for tol in tols]
        assert all(b <= a for a, b in zip(errors, errors[1:])), f"top-{k}: errors {errors} for tols {tols}"
        assert errors[-1] <= 1e-6 < errors[0], f"top-{k}: errors {errors}"


def test_residual_bound_flags_an_unconverged_run():
    """Negative control: 2k fixed steps (hessian-eigenthings' default) leave the close pair
    unresolved; the residual bound reports it (> tol) and still bounds the true error."""
    op = MatrixOperator(matrix_with_spectrum(CLOSE_PAIR, seed=0))
    k, tol = 2, 1e-3
    run = lanczos(op, 2 * k, random_start(op, 1))
    theta, relative = ritz_relative_residuals(run.alphas.tolist(), run.betas.tolist(), run.beta_last, k, "LA")
    want = CLOSE_PAIR[:k]
    nearest = (theta[:, None] - CLOSE_PAIR[None, :]).abs().min(dim=1).values / theta.abs()
    assert ((theta - want).abs() / want).max() > tol and relative.max() > tol
    assert (nearest <= relative * (1 + 1e-12)).all(), "the residual bound must hold for every Ritz value"


def test_log_volume_known_spectrum(op):
    want = float(torch.log(SPECTRUM[:5].double()).sum())
    assert math.isclose(log_volume(SPECTRUM, 5), want, rel_tol=1e-15)
    assert math.isclose(log_volume_lanczos(op, 5, seed=2), want, rel_tol=1e-8)


def test_log_volume_refuses_missing_positive_eigenvalues():
    with pytest.raises(ValueError):
        log_volume(torch.tensor([2.0, 1.0, -1.0]), 3)


def test_lanczos_without_reorthogonalization_shows_ghosts(op):
    """Negative control: plain Lanczos run long enough duplicates the converged outlier 50."""
    start = random_start(op, 3)
    plain = torch.linalg.eigvalsh(lanczos(op, 120, start, reorthogonalize=False).tridiagonal())
    full = torch.linalg.eigvalsh(lanczos(op, 120, start, reorthogonalize=True).tridiagonal())
    near_top = lambda theta: int(((theta - 50).abs() < 1e-6).sum())
    assert near_top(full) == 1
    assert near_top(plain) >= 2, f"expected ghost copies of 50, got {plain[-4:]}"


def test_slq_density_matches_exact_broadened_density(op):
    grid = torch.linspace(-2, 55, 1200)
    sigma = 0.3
    nodes = quadrature_nodes_weights(op, steps=60, probes=20, seed=4)
    got = gaussian_density(nodes, grid, sigma)
    want = exact_gaussian_density(SPECTRUM, grid, sigma)
    # L1 distance between densities (both integrate to 1): probe noise ~ 1/sqrt(probes · n)
    l1 = torch.trapezoid((got - want).abs(), grid).item()
    assert l1 < 0.1, f"L1(SLQ, exact) = {l1}"


def test_hutchinson_trace_exact_for_diagonal_and_close_for_dense(op):
    diag = MatrixOperator(torch.diag(SPECTRUM.double()))
    est, se = hutchinson_trace(diag, probes=5, seed=5)  # Rademacher: vᵀDv = tr D for every v
    assert math.isclose(est, SPECTRUM.sum().item(), rel_tol=1e-12) and se < 1e-9
    est, se = hutchinson_trace(op, probes=200, seed=6, chunk=50)
    assert abs(est - SPECTRUM.sum().item()) <= 4 * se


def test_frobenius_estimators_known_spectrum(op):
    exact = SPECTRUM.double().pow(2).sum().item()
    assert math.isclose(frobenius_sq_exact_hvps(op), exact, rel_tol=1e-12)
    est = frobenius_sq_hutchinson(op, probes=200, seed=7)
    assert abs(est.value - exact) <= 4 * est.standard_error


def test_wrong_sign_hvp_is_detected():
    """Negative control: an operator returning −Hv fails the check against the exact Hessian."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    hop = HessianOperator(model, nn.functional.cross_entropy, (x, y))
    ref = torch.autograd.functional.hessian(lambda t: _risk(hop, t),
                                            hop.theta.clone())
    h = exact_hessian(hop)
    assert torch.allclose(h, ref, rtol=0, atol=1e-12)
    wrong = MatrixOperator(-h)
    v = random_start(hop, 8)
    assert not torch.allclose(wrong.matvec(v), ref @ v, rtol=1e-6, atol=1e-9)


def _risk(op, theta):
    return op._batch_loss(theta, *op.batches[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_operator_and_lanczos_stay_on_the_model_device():
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double().cuda()
    x, y = torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    hop = HessianOperator(model, nn.functional.cross_entropy, (x, y))
    assert hop.matvec(torch.ones(hop.dim)).device.type == "cuda"
    _, vec = top_eigenvalues(hop, 2, return_vectors=True)
    assert vec.device.type == "cuda"
