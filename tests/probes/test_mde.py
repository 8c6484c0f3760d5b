"""The MDE solver against closed forms (semicircle, Marchenko–Pastur, the cusp of a two-atom
deformation), its convergence flags, and atoms in the cumulative distribution."""

import mpmath
import numpy as np
import pytest

from losslab.probes.mde import (
    NotConverged, atom_mass, block_kernel, cumulative_distribution, density, kraus_operator,
    matrix_dyson_residual, self_energy_norm, solve_matrix_dyson, solve_vector_dyson, stieltjes_transform,
    support_intervals, variance_profile_operator,
)
from losslab.probes.sampled_spectra import kolmogorov_distance, sample_block_profile_matrix, symmetric_eigenvalues


def semicircle_stieltjes(z):
    """m(z) = (-z + sqrt(z^2 - 4)) / 2 on the branch with Im m > 0."""
    root = np.sqrt(z * z - 4 + 0j)
    m = (-z + root) / 2
    return np.where(m.imag > 0, m, (-z - root) / 2)


def two_atom_stieltjes(z, a, p):
    """m(z) of semicircle ⊞ (p δ_a + (1-p) δ_{-a}) at 50 digits: with w = z + m,
    m = p/(a - w) + (1-p)/(-a - w), i.e. (w - z)(w^2 - a^2) + w - a(1 - 2p) = 0; the root with Im m > 0."""
    mpmath.mp.dps = 50
    z = mpmath.mpc(z)
    roots = mpmath.polyroots([1, -z, 1 - a * a, z * a * a - a * (1 - 2 * p)], maxsteps=400, extraprec=400)
    return complex(max((w - z for w in roots), key=lambda m: m.imag))


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
WIGNER_KERNEL = np.ones((1, 1))
CUSP_KERNEL, CUSP_WEIGHTS = block_kernel(np.ones((2, 2)), [0.5, 0.5])  # with a = (1, -1): cusp at 0


def test_semicircle_stieltjes_transform_matches_closed_form():
    z = np.array([0.3 + 0.01j, -1.9 + 1e-6j, 3 + 0.5j, 1j, 2.0 + 1e-8j, -5 + 1e-3j])
    m = stieltjes_transform(z, WIGNER_KERNEL)
    at_edge = np.abs(np.abs(z.real) - 2) < 1e-3  # the Jacobian is singular at an edge
    assert np.abs(m - semicircle_stieltjes(z))[~at_edge].max() <= 1e-12
    assert np.abs(m - semicircle_stieltjes(z))[at_edge].max() <= 1e-10


def test_semicircle_density_matches_closed_form():
    x = np.linspace(-2.5, 2.5, 1001)
    rho = density(x, WIGNER_KERNEL)
    exact = np.sqrt(np.clip(4 - x**2, 0, None)) / (2 * np.pi)
    away = np.abs(np.abs(x) - 2) > 0.01  # at eta = 1e-10 the edge error is O(sqrt(eta))
    assert np.abs(rho - exact)[away].max() <= 1e-8
    assert np.abs(rho - exact).max() <= 1e-5
    (lo, hi), = support_intervals(x, rho, 1e-4)
    assert abs(lo + 2) <= 0.0051 and abs(hi - 2) <= 0.0051  # within one grid step of ±2


def test_full_variance_profile_of_ones_is_semicircle():
    n = 12  # the vector equation with K = ones/N has m_i = m_semicircle for every i
    sol = solve_vector_dyson(0.7 + 0.05j, np.ones((n, n)) / n)
    assert sol.converged and sol.residual <= 1e-12
    assert np.abs(sol.m - semicircle_stieltjes(0.7 + 0.05j)).max() <= 1e-12


def test_matrix_solver_with_diagonal_self_energy_is_semicircle():
    n = 6
    z = -0.4 + 0.2j
    sol = solve_matrix_dyson(z, lambda r: np.einsum("...ii->...", r)[..., None, None] / n * np.eye(n), n=n)
    assert sol.converged
    assert np.abs(sol.m - semicircle_stieltjes(z) * np.eye(n)).max() <= 1e-12


def test_matrix_solver_agrees_with_vector_solver_on_a_variance_profile():
    rng = np.random.default_rng(3)
    n = 7
    s = rng.uniform(0, 2, (n, n))
    s = (s + s.T) / 2
    z = np.array([0.5 + 0.3j, -1.2 + 1e-6j])
    diagonal_part = lambda r: np.einsum("ik,...kk->...i", s, r)[..., None] * np.eye(n) / n  # noqa: E731
    a = np.arange(n) * 0.1
    m_mat = solve_matrix_dyson(z, diagonal_part, np.diag(a))
    m_vec = solve_vector_dyson(z, s / n, a)
    assert m_mat.converged.all() and m_vec.converged.all()
    assert np.abs(m_mat.m - m_vec.m[:, :, None] * np.eye(n)).max() <= 1e-10
    assert matrix_dyson_residual(m_mat.m[0], z[0], diagonal_part, np.diag(a)) <= 1e-12


@pytest.mark.parametrize("a, p", [(1.0, 0.5), (1.5, 0.5), (0.6, 0.3), (2.0, 0.8)])
def test_two_atom_deformation_matches_high_precision_root(a, p):
    """A != 0: A = diag(a, -a) with weights (p, 1-p), s = 1 (balanced and unbalanced, cusp at a = 1, p = 1/2)."""
    kernel, weights = block_kernel(np.ones((2, 2)), [p, 1 - p])
    z = np.array([0.0 + 1e-3j, 0.3 + 1e-6j, -0.9 + 1e-9j, 2.5 + 1e-10j, -1.1 + 0.5j])
    exact = np.array([two_atom_stieltjes(zi, a, p) for zi in z])
    m = stieltjes_transform(z, kernel, np.array([a, -a]), weights)
    assert np.abs(m - exact).max() <= 1e-8
    one_block = lambda r: np.einsum("...ii->...", r * np.array([p, 1 - p]))[..., None, None] * np.eye(2)  # noqa: E731
    m_mat = solve_matrix_dyson(z, one_block, np.diag([a, -a]))
    assert m_mat.converged.all()
    assert np.abs(np.einsum("xii,i->x", m_mat.m, [p, 1 - p]) - exact).max() <= 1e-8


def test_cusp_density_matches_high_precision_root():
    """At the cusp (A = diag(±1), equal weights, x = 0) rho(x) ~ |x|^{1/3} and Im m(i eta) ~ eta^{1/3}:
    the Jacobian is nearly singular; the solver must match the 50-digit root, not stop at a small residual."""
    for eta in (1e-6, 1e-8, 1e-10):
        for x in (0.0, 1e-4, -3e-3):
            exact = two_atom_stieltjes(x + 1j * eta, 1.0, 0.5)
            got = stieltjes_transform(x + 1j * eta, CUSP_KERNEL, np.array([1.0, -1.0]), CUSP_WEIGHTS)
            assert abs(got - exact) <= 1e-6 * abs(exact.imag), (x, eta, got, exact)
    n = 2
    one_block = lambda r: np.einsum("...ii->...", r)[..., None, None] / n * np.eye(n)  # noqa: E731
    sol = solve_matrix_dyson(1e-10j, one_block, np.diag([1.0, -1.0]))
    assert sol.converged
    assert abs(np.trace(sol.m) / n - two_atom_stieltjes(1e-10j, 1.0, 0.5)) <= 1e-6 * 1e-10 ** (1 / 3)


def test_unreachable_accuracy_at_the_cusp_raises():
    """At eta = 1e-14 the condition number ~ eta^{-2/3} leaves no certified digits: NotConverged."""
    sol = solve_vector_dyson(1e-14j, CUSP_KERNEL, np.array([1.0, -1.0]))
    assert not sol.converged and sol.error > 1e-9
    with pytest.raises(NotConverged):
        density(0.0, CUSP_KERNEL, np.array([1.0, -1.0]), CUSP_WEIGHTS, eta=1e-14)


def test_capped_iterations_are_flagged_not_returned():
    """A solve stopped early says so: vector and matrix solvers, and density() raises."""
    z = np.array([0.5 + 1e-8j, 1.9 + 1e-8j])
    capped = solve_vector_dyson(z, WIGNER_KERNEL, eta_start=1e-8, averaged_steps=3, newton_steps=0)
    assert not capped.converged.any() and (capped.residual > 1e-12).all()
    with pytest.raises(NotConverged):
        density(z.real, WIGNER_KERNEL, eta=1e-8, eta_start=1e-8, averaged_steps=3, newton_steps=0)
    one = lambda r: np.einsum("...ii->...", r)[..., None, None] * np.eye(1)  # noqa: E731
    capped_matrix = solve_matrix_dyson(z, one, n=1, eta_start=1e-8, averaged_steps=3, newton_steps=0)
    assert not capped_matrix.converged.any()


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


def test_chiral_atom_mass_and_sampled_spectrum_with_atom():
    """Chiral Wishart with c = 1/3: an atom of mass 1 - 2c = 1/3 at 0. With the atom in the CDF the
    Kolmogorov distance to a sampled spectrum is small; dropping it leaves ~ half the atom."""
    c = 1 / 3
    kernel, weights = block_kernel([[0, 1], [1, 0]], [c, 1 - c])
    mass = atom_mass(0.0, kernel, weights=weights)
    assert abs(mass - (1 - 2 * c)) <= 1e-9
    x = np.linspace(-2.5, 2.5, 4000)
    rho = density(x, kernel, weights=weights)
    with_atom = cumulative_distribution(x, rho, atoms=[(0.0, mass)])
    without = cumulative_distribution(x, rho)
    eig = symmetric_eigenvalues(sample_block_profile_matrix([[0, 1], [1, 0]], [c, 1 - c], 300,
                                                            np.random.default_rng(5)))
    assert kolmogorov_distance(eig, with_atom) <= 0.03
    assert kolmogorov_distance(eig, without) >= 0.15


def test_averaged_iteration_and_newton_agree():
    kernel, _ = block_kernel(BLOCK_VARIANCES, BLOCK_FRACTIONS)
    z = 0.9 + 0.1j
    m_newton = solve_vector_dyson(z, kernel).m
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
    r = rng.standard_normal((2, n, n)) + 1j * rng.standard_normal((2, n, n))
    assert np.abs(kraus_operator(gens)(r) - variance_profile_operator(s)(r)).max() <= 1e-14


def test_matrix_solver_on_correlated_self_energy_has_positive_imaginary_part():
    rng = np.random.default_rng(12)
    n, k = 8, 6
    bs = rng.standard_normal((k, n, n))
    self_energy = kraus_operator((bs + bs.transpose(0, 2, 1)) / 2)
    z = 0.3 + 0.05j
    sol = solve_matrix_dyson(z, self_energy, n=n)
    assert sol.converged
    assert matrix_dyson_residual(sol.m, z, self_energy) <= 1e-11
    assert (symmetric_eigenvalues((sol.m - sol.m.conj().T) / 2j) > 0).all()
