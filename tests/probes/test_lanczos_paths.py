"""Lanczos, block Lanczos, SLQ, trace and log-volume paths against exact answers on known spectra.

The spectra are picked so wrong formulas give different numbers: the largest-magnitude eigenvalue is
negative (LM ≠ LA), values are distinct and not symmetric about 0, and partial Krylov bases (m < n)
are checked through identities that hold at every step, not only at the end.
"""

import math

import pytest
import scipy.stats
import torch

from losslab.probes.frobenius import frobenius_sq_deflated, frobenius_sq_exact_hvps, frobenius_sq_hutchinson
from losslab.probes.lanczos import lanczos, lanczos_probes, random_start, ritz_relative_residuals, top_eigenvalues
from losslab.probes.log_volume import log_volume
from losslab.probes.operators import MatrixOperator, matrix_with_spectrum
from losslab.probes.spectral_density import exact_gaussian_density, gaussian_density, quadrature_nodes_weights
from losslab.probes.trace import (deflated_products, hutchinson_trace, hutchinson_trace_deflated,
                                   rademacher_probes)

# largest magnitude is negative (-9); top 'LA' is 6; a bulk in (-1, 2)
NEGATIVE_LM = torch.cat([torch.tensor([-9.0, 6.0, -7.5, 4.0, 3.0]), torch.linspace(-1.0, 2.0, 75)]).double()


@pytest.fixture(scope="module")
def op():
    return MatrixOperator(matrix_with_spectrum(NEGATIVE_LM, seed=4))


def _wanted(which, k):
    key = {"LA": -NEGATIVE_LM, "SA": NEGATIVE_LM, "LM": -NEGATIVE_LM.abs()}[which]
    return NEGATIVE_LM[torch.argsort(key)[:k]]


@pytest.mark.parametrize("block", [1, 3])
@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_top_eigenvalues_order_values_and_ritz_vectors(op, which, block):
    k = 3
    values, vectors = top_eigenvalues(op, k, which=which, tol=1e-10, seed=2, block=block, return_vectors=True)
    assert torch.allclose(values, _wanted(which, k), rtol=0, atol=1e-9), f"{which}, block {block}: {values}"
    # Ritz vectors: orthonormal, and each an eigenvector: residual ‖A x − θ x‖ ≤ tol |θ|
    assert torch.allclose(vectors.T @ vectors, torch.eye(k, dtype=torch.float64), rtol=0, atol=1e-10)
    residuals = torch.linalg.vector_norm(op.matrix @ vectors - vectors * values, dim=0)
    assert (residuals <= 1e-10 * values.abs()).all(), residuals


def test_lm_with_a_dominant_negative_eigenvalue_is_not_la(op):
    lm = top_eigenvalues(op, 2, which="LM", tol=1e-10, seed=3)
    la = top_eigenvalues(op, 2, which="LA", tol=1e-10, seed=3)
    assert lm.tolist() == pytest.approx([-9.0, -7.5], abs=1e-9) and la.tolist() == pytest.approx([6.0, 4.0], abs=1e-9)


def test_top_eigenvalues_stop_when_the_residual_meets_tol_not_later():
    """The stopping rule: at tol the wanted residual bound holds, and one step earlier it did not."""
    op = MatrixOperator(matrix_with_spectrum(NEGATIVE_LM, seed=5))
    for tol in (1e-2, 1e-4):
        calls = []
        counting = MatrixOperator(op.matrix)
        counting.matvec = lambda v, mv=counting.matvec: calls.append(1) or mv(v)
        top_eigenvalues(counting, 1, which="LA", tol=tol, seed=6)
        m = len(calls)
        run = lanczos(op, m, random_start(op, 6))  # same start: the same Krylov space
        _, relative = ritz_relative_residuals(run.alphas.tolist(), run.betas.tolist(), run.beta_last, 1, "LA")
        shorter = lanczos(op, m - 1, random_start(op, 6))
        _, before = ritz_relative_residuals(shorter.alphas.tolist(), shorter.betas.tolist(), shorter.beta_last, 1, "LA")
        assert relative.item() <= tol * (1 + 1e-6) and before.item() > tol, (tol, m, relative, before)


def test_block_lanczos_without_reorthogonalization_still_finds_the_outliers(op):
    values = top_eigenvalues(op, 2, which="LM", tol=1e-6, seed=7, block=2, reorthogonalize=False, max_steps=80)
    assert torch.allclose(values, _wanted("LM", 2), rtol=0, atol=1e-4)


@pytest.mark.parametrize("steps", [1, 7, 30])
def test_partial_krylov_basis_identities(op, steps):
    """A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ: Q_m orthonormal, Q_mᵀ A Q_m = T_m, ‖A Q_m − Q_m T_m‖_F = β_m."""
    run = lanczos(op, steps, random_start(op, 8))
    q, t = run.basis, run.tridiagonal()
    assert q.shape == (op.dim, steps) and t.shape == (steps, steps)
    assert torch.allclose(q.T @ q, torch.eye(steps, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.allclose(q.T @ op.matrix @ q, t, rtol=0, atol=1e-12)
    rest = op.matrix @ q - q @ t
    assert math.isclose(torch.linalg.matrix_norm(rest).item(), run.beta_last, rel_tol=1e-9)
    assert torch.linalg.vector_norm(rest[:, :-1]).item() <= 1e-11, "only the last column leaves span(Q_m)"
    assert torch.allclose(q[:, 0], random_start(op, 8) / random_start(op, 8).norm(), rtol=0, atol=1e-15)


def test_lanczos_stops_on_an_invariant_subspace():
    a = torch.diag(torch.tensor([5.0, -2.0, 1.0, 3.0], dtype=torch.float64))
    run = lanczos(MatrixOperator(a), 4, torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    assert run.alphas.numel() == 2 and run.beta_last <= 1e-12
    assert torch.linalg.eigvalsh(run.tridiagonal()).tolist() == pytest.approx([-2.0, 5.0], abs=1e-12)


def test_parallel_probes_equal_one_run_per_probe(op):
    starts = torch.stack([random_start(op, s) for s in (10, 11, 12)], dim=1)
    together = lanczos_probes(op, 12, starts)
    for i, result in enumerate(together):
        alone = lanczos(op, 12, starts[:, i])
        assert torch.allclose(result.alphas, alone.alphas, rtol=0, atol=1e-12)
        assert torch.allclose(result.betas, alone.betas, rtol=0, atol=1e-12)
        assert torch.allclose(result.basis, alone.basis, rtol=0, atol=1e-12)
        assert math.isclose(result.beta_last, alone.beta_last, rel_tol=1e-10)


def test_parallel_probes_stop_independently():
    """One probe in a 2-dimensional invariant subspace stops after 2 steps; the other runs on, unaffected."""
    a = matrix_with_spectrum(torch.arange(1.0, 9.0), seed=9)
    eigvecs = torch.linalg.eigh(a).eigenvectors
    starts = torch.stack([eigvecs[:, 0] + eigvecs[:, 5], torch.ones(8, dtype=torch.float64)], dim=1)
    short, full = lanczos_probes(MatrixOperator(a), 6, starts)
    assert short.alphas.numel() == 2 and full.alphas.numel() == 6
    alone = lanczos(MatrixOperator(a), 6, starts[:, 1])
    assert torch.allclose(full.alphas, alone.alphas, rtol=0, atol=1e-12)


def test_slq_probes_are_the_seeded_rademacher_probes_and_weights_sum_to_one(op):
    nodes = quadrature_nodes_weights(op, steps=6, probes=3, seed=20)
    for p, (theta, tau) in enumerate(nodes):
        v = random_start(op, 20 + p, rademacher=True)
        v = v / v.norm()
        assert math.isclose(tau.sum().item(), 1.0, rel_tol=1e-12)
        for power in (1, 2, 3):  # Gauss quadrature exact to degree 2m − 1
            want = (v @ torch.linalg.matrix_power(op.matrix, power) @ v).item()
            assert math.isclose((tau * theta**power).sum().item(), want, rel_tol=1e-10)
    grid = torch.linspace(-12.0, 9.0, 5)
    averaged = sum(gaussian_density([nw], grid, 0.5) for nw in nodes) / 3
    assert torch.allclose(gaussian_density(nodes, grid, 0.5), averaged, rtol=1e-14, atol=0)


def test_gaussian_density_known_value():
    """One node at 1 with weight 1, σ = 2: φ(t) = exp(−(t−1)²/8) / (2√(2π))."""
    got = gaussian_density([(torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64))],
                           torch.tensor([1.0, 3.0, -2.0]), sigma=2.0)
    want = [math.exp(-(t - 1) ** 2 / 8) / (2 * math.sqrt(2 * math.pi)) for t in (1.0, 3.0, -2.0)]
    assert got.tolist() == pytest.approx(want, rel=1e-14)


def test_hutchinson_trace_and_its_standard_error(op):
    probes = rademacher_probes(op, 30, seed=30)
    assert set(probes.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(probes[:, 4], random_start(op, 34, rademacher=True))
    samples = (probes * (op.matrix @ probes)).sum(0)
    est, se = hutchinson_trace(op, probes=30, seed=30, chunk=4)
    assert math.isclose(est, samples.mean().item(), rel_tol=1e-12)
    assert math.isclose(se, scipy.stats.sem(samples.numpy()), rel_tol=1e-10)
    assert abs(est - NEGATIVE_LM.sum().item()) <= 4 * se


def test_frobenius_exact_and_hutchinson_on_a_known_spectrum(op):
    exact = NEGATIVE_LM.pow(2).sum().item()
    assert math.isclose(frobenius_sq_exact_hvps(op, chunk=7), exact, rel_tol=1e-12)
    est = frobenius_sq_hutchinson(op, probes=40, seed=40, chunk=3)
    samples = (op.matrix @ rademacher_probes(op, 40, seed=40)).pow(2).sum(0)
    assert torch.allclose(est.samples, samples, rtol=1e-12, atol=0)
    assert math.isclose(est.standard_error, scipy.stats.sem(samples.numpy()), rel_tol=1e-10)
    assert abs(est.value - exact) <= 4 * est.standard_error


def test_log_volume_takes_the_largest_positive_values_not_the_largest_magnitudes():
    lam = torch.tensor([0.5, -30.0, 4.0, 2.0, -0.1])
    assert log_volume(lam, 2) == pytest.approx(math.log(8.0), rel=1e-15)  # 4 · 2, not (−30) or 4 + 2
    assert log_volume(lam, 3) == pytest.approx(math.log(4.0), rel=1e-15)  # 4 · 2 · 0.5


def test_deflated_trace_exact_with_a_full_basis_and_unbiased_with_a_partial_one(op):
    exact = NEGATIVE_LM.sum().item()
    full = lanczos(op, op.dim, random_start(op, 50))
    est, _ = hutchinson_trace_deflated(op, full, probes=3, seed=51)
    assert math.isclose(est, exact, rel_tol=1e-10, abs_tol=1e-10), "with Q = all of R^n the rest vanishes"
    estimates = [hutchinson_trace_deflated(op, lanczos(op, 4, random_start(op, 60 + s)), probes=3, seed=80 + s)
                 for s in range(30)]
    values = torch.tensor([e for e, _ in estimates])
    assert abs(values.mean().item() - exact) <= 4 * scipy.stats.sem(values.numpy())
    # the outliers deflated: the rest's standard error is below plain Hutchinson's at the same probe count
    plain = hutchinson_trace(op, probes=3, seed=80)[1]
    assert max(se for _, se in estimates[:5]) < plain


def test_deflated_trace_uses_the_deflated_probes(op):
    """The rest term is built from probes orthogonal to Q_m (P v, not v, which would count tr T_m twice)."""
    run = lanczos(op, 6, random_start(op, 90))
    est, se = hutchinson_trace_deflated(op, run, probes=40, seed=91)
    pv, papv = deflated_products(op, run.basis, 40, 91)
    assert torch.allclose(run.basis.T @ pv, torch.zeros(6, 40, dtype=torch.float64), rtol=0, atol=1e-12)
    assert math.isclose(est, run.alphas.sum().item() + (pv * papv).sum(0).mean().item(), rel_tol=1e-12)
    assert abs(est - NEGATIVE_LM.sum().item()) <= 4 * se


@pytest.mark.parametrize("steps", [3, 9])
def test_deflated_frobenius_identity_with_a_partial_basis(op, steps):
    """‖H‖_F² = ‖T_m‖_F² + 2β_m² + ‖P H P‖_F² at every m: the estimator's exact part against dense algebra."""
    run = lanczos(op, steps, random_start(op, 95))
    est = frobenius_sq_deflated(op, run, probes=4, seed=96)
    p = torch.eye(op.dim, dtype=torch.float64) - run.basis @ run.basis.T
    rest = (p @ op.matrix @ p).pow(2).sum().item()
    exact_part = est.value - est.samples.mean().item()
    assert math.isclose(exact_part, NEGATIVE_LM.pow(2).sum().item() - rest, rel_tol=1e-10)
    assert run.beta_last**2 > 1e-3 * exact_part, "β_m is not negligible here, so a missing 2β² shows"


def test_block_lanczos_calls_matmat_with_blocks_of_the_requested_width(op):
    """block=3: every product is one matmat of 3 columns (the batched path); block=1: one matvec each."""
    widths, calls = [], []
    counting = MatrixOperator(op.matrix)
    counting.matmat = lambda v, chunk=0, mm=counting.matmat: widths.append(v.shape[1]) or mm(v)
    counting.matvec = lambda v, mv=counting.matvec: calls.append(1) or mv(v)
    top_eigenvalues(counting, 2, which="LM", tol=1e-8, seed=2, block=3)
    assert widths and set(widths) == {3} and not calls, (widths, len(calls))
    widths.clear()
    top_eigenvalues(counting, 2, which="LM", tol=1e-8, seed=2, block=1)
    assert not widths and calls


def test_exact_gaussian_density_known_value():
    """Eigenvalues {0, 2}, σ = 1: φ(t) = (N(t; 0, 1) + N(t; 2, 1)) / 2 (weights 1/n, not 1/(n − 1) or 1)."""
    grid = torch.tensor([-1.0, 0.0, 0.5, 2.0, 4.0], dtype=torch.float64)
    want = (scipy.stats.norm.pdf(grid.numpy(), 0, 1) + scipy.stats.norm.pdf(grid.numpy(), 2, 1)) / 2
    got = exact_gaussian_density(torch.tensor([0.0, 2.0]), grid, sigma=1.0)
    assert got.numpy() == pytest.approx(want, rel=1e-13)
