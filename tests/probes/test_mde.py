"""The MDE solver against closed forms (semicircle, Marchenko–Pastur) and sampled spectra."""

import numpy as np
import pytest

from losslab.probes.mde import (
    block_kernel, cumulative_distribution, density, kraus_operator, matrix_dyson_residual,
    self_energy_norm, solve_matrix_dyson, solve_vector_dyson, stieltjes_transform,
    support_intervals, variance_profile_operator,
)
from losslab.probes.sampled_spectra import kolmogorov_distance, sample_block_profile_matrix, symmetric_eigenvalues


def semicircle_stieltjes(z):
    """m(z) = (-z + sqrt(z^2 - 4)) / 2 on the branch with Im m > 0."""
    root = np.sqrt(z * z - 4 + 0j)
    m = (-z + root) / 2
    return np.where(m.imag > 0, m, (-z - root) / 2)


def marchenko_pastur_chiral_density(x, phi):
    """Density of H = [[0, X], [X^T, 0]] (X: phi N x (1-phi) N, entries of variance 1/N), x != 0.

    The squares of the 2 phi N non-zero eigenvalues ±sqrt(t) follow Marchenko–Pastur with ratio
    y = phi / (1 - phi) and scale sigma^2 = 1 - phi, so rho(x) = 2 phi |x| f_MP(x^2).
    """
    sig2, y = 1 - phi, phi / (1 - phi)
    lo, hi = sig2 * (1 - np.sqrt(y)) ** 2, sig2 * (1 + np.sqrt(y)) ** 2
    t = x**2
    f = np.sqrt(np.clip((hi - t) * (t - lo), 0, None)) / (2 * np.pi * sig2 * y * t)
    return 2 * phi * np.abs(x) * f


# a 3-block variance profile (symmetric s, unequal rows) used for sampled spectra
BLOCK_VARIANCES = np.array([[1.0, 0.3, 2.0], [0.3, 0.5, 1.0], [2.0, 1.0, 0.2]])
BLOCK_FRACTIONS = np.array([0.5, 0.3, 0.2])


def test_semicircle_stieltjes_transform_matches_closed_form():
    z = np.array([0.3 + 0.01j, -1.9 + 1e-6j, 3 + 0.5j, 1j, 2.0 + 1e-8j, -5 + 1e-3j])
    m = stieltjes_transform(z, np.ones((1, 1)))
    at_edge = np.abs(np.abs(z.real) - 2) < 1e-3  # the Jacobian is singular at an edge
    assert np.abs(m - semicircle_stieltjes(z))[~at_edge].max() <= 1e-12
    assert np.abs(m - semicircle_stieltjes(z))[at_edge].max() <= 1e-10


def test_semicircle_density_matches_closed_form():
    x = np.linspace(-2.5, 2.5, 1001)
    rho = density(x, np.ones((1, 1)))
    exact = np.sqrt(np.clip(4 - x**2, 0, None)) / (2 * np.pi)
    away = np.abs(np.abs(x) - 2) > 0.01  # at eta = 1e-10 the edge error is O(sqrt(eta))
    assert np.abs(rho - exact)[away].max() <= 1e-8
    assert np.abs(rho - exact).max() <= 1e-5
    (lo, hi), = support_intervals(x, rho, 1e-4)
    assert abs(lo + 2) <= 0.0051 and abs(hi - 2) <= 0.0051  # within one grid step of ±2


def test_full_variance_profile_of_ones_is_semicircle():
    n = 12  # the vector equation with K = ones/N has m_i = m_semicircle for every i
    m = solve_vector_dyson(0.7 + 0.05j, np.ones((n, n)) / n)
    assert np.abs(m - semicircle_stieltjes(0.7 + 0.05j)).max() <= 1e-12


def test_matrix_solver_with_diagonal_self_energy_is_semicircle():
    n = 6
    z = -0.4 + 0.2j
    m = solve_matrix_dyson(z, lambda r: np.trace(r) / n * np.eye(n), np.zeros((n, n)))
    assert np.abs(m - semicircle_stieltjes(z) * np.eye(n)).max() <= 1e-12


def test_matrix_solver_agrees_with_vector_solver_on_a_variance_profile():
    rng = np.random.default_rng(3)
    n = 7
    s = rng.uniform(0, 2, (n, n))
    s = (s + s.T) / 2
    z = 0.5 + 0.3j
    diagonal_part = lambda r: np.diag(s @ np.diag(r)) / n  # noqa: E731 (the vector equation's S)
    m_mat = solve_matrix_dyson(z, diagonal_part, np.diag(np.arange(n) * 0.1))
    m_vec = solve_vector_dyson(z, s / n, np.arange(n) * 0.1)
    assert np.abs(m_mat - np.diag(m_vec)).max() <= 1e-12
    assert matrix_dyson_residual(m_mat, z, diagonal_part, np.diag(np.arange(n) * 0.1)) <= 1e-12


@pytest.mark.parametrize("phi", [0.3, 0.5])
def test_marchenko_pastur_from_chiral_block_profile(phi):
    kernel, weights = block_kernel([[0, 1], [1, 0]], [phi, 1 - phi])
    x = np.linspace(-2, 2, 2000)  # even count: 0 is not a grid point (atom of mass |1-2 phi| at 0)
    rho = density(x, kernel, weights=weights)
    exact = marchenko_pastur_chiral_density(x, phi)
    edges = np.sqrt(1 - phi) + np.array([-1, 1])[:, None] * np.sqrt(phi) * np.array([1, -1])
    near_edge = np.min(np.abs(np.abs(x)[:, None] - np.abs(edges).ravel()), axis=1) < 0.01
    # the atom at 0 leaks mass * eta / (pi x^2) into the grid at eta = 1e-10: exclude |x| < 0.05
    near_atom = np.abs(x) < 0.05
    assert np.abs(rho - exact)[~near_edge & ~near_atom].max() <= 1e-6
    assert np.abs(rho - exact)[~near_atom].max() <= 1e-4


def test_averaged_iteration_and_newton_agree():
    kernel, _ = block_kernel(BLOCK_VARIANCES, BLOCK_FRACTIONS)
    z = 0.9 + 0.1j
    m_newton = solve_vector_dyson(z, kernel)
    m = np.full(3, 1j)
    for _ in range(3000):  # pure HRS averaged iteration, no Newton
        m = 0.5 * (m - 1 / (z + kernel @ m))
    assert np.abs(m - m_newton).max() <= 1e-12


def test_density_integrates_to_one_and_support_within_norm_bound():
    kernel, weights = block_kernel(BLOCK_VARIANCES, BLOCK_FRACTIONS)
    x = np.linspace(-4, 4, 4001)
    rho = density(x, kernel, weights=weights)
    assert abs(np.trapezoid(rho, x) - 1) <= 1e-4
    edge = 2 * np.sqrt(self_energy_norm(kernel))
    assert rho[np.abs(x) > edge].max() <= 1e-8


# sampled spectra: Kolmogorov distance between the eigenvalue CDF and the MDE CDF.
# Eigenvalues are rigid (not independent), so the distance is ~ c log(N) / N, not N^{-1/2};
# measured c ~ 0.5 (N = 50..800, mean over 1600/N runs). Threshold stated: 1.5 log(N) / N.
RIGIDITY_CONSTANT = 1.5


def _mde_cdf(block_variances, fractions):
    kernel, weights = block_kernel(block_variances, fractions)
    x = np.linspace(-4, 4, 4001)
    return x, cumulative_distribution(x, density(x, kernel, weights=weights))


def test_sampled_spectra_approach_mde_density_like_log_n_over_n():
    rng = np.random.default_rng(20260101)
    x, cdf = _mde_cdf(BLOCK_VARIANCES, BLOCK_FRACTIONS)
    distances = {}
    for n in (100, 200, 400):
        runs = 800 // n
        distances[n] = np.mean([kolmogorov_distance(symmetric_eigenvalues(sample_block_profile_matrix(BLOCK_VARIANCES, BLOCK_FRACTIONS, n, rng)),
                                                    x, cdf) for _ in range(runs)])
    for n, d in distances.items():
        assert d <= RIGIDITY_CONSTANT * np.log(n) / n, f"N={n}: distance {d:.4g}"
    assert distances[400] < distances[100] / 2.5, distances


def test_sampled_spectrum_rejects_the_wrong_density():
    """Control: the same check rejects the semicircle with the same mean variance."""
    rng = np.random.default_rng(7)
    mean_variance = BLOCK_FRACTIONS @ BLOCK_VARIANCES @ BLOCK_FRACTIONS
    x, cdf = _mde_cdf(np.array([[mean_variance]]), [1.0])
    n = 400
    d = kolmogorov_distance(symmetric_eigenvalues(sample_block_profile_matrix(BLOCK_VARIANCES, BLOCK_FRACTIONS, n, rng)), x, cdf)
    assert d > RIGIDITY_CONSTANT * np.log(n) / n, d


def test_kraus_operator_of_independent_entries_is_the_variance_profile_operator():
    """W = sum_{i<=j} g_ij sqrt(s_ij) (E_ij + E_ji) has independent entries: both forms of S agree."""
    rng = np.random.default_rng(11)
    n = 5
    s = rng.uniform(0, 2, (n, n))
    s = (s + s.T) / 2
    gens = []
    for i in range(n):
        for j in range(i, n):
            b = np.zeros((n, n))
            b[i, j] = b[j, i] = np.sqrt(s[i, j])
            gens.append(b)
    r = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    assert np.abs(kraus_operator(gens)(r) - variance_profile_operator(s)(r)).max() <= 1e-14


def test_matrix_solver_on_correlated_self_energy_has_positive_imaginary_part():
    rng = np.random.default_rng(12)
    n, k = 12, 6
    bs = rng.standard_normal((k, n, n))
    self_energy = kraus_operator((bs + bs.transpose(0, 2, 1)) / 2)
    z = 0.3 + 0.05j
    m = solve_matrix_dyson(z, self_energy, np.zeros((n, n)))
    assert matrix_dyson_residual(m, z, self_energy) <= 1e-11
    assert (symmetric_eigenvalues((m - m.conj().T) / 2j) > 0).all()
