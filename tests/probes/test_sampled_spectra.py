"""Sampled-spectra helpers against scipy: variance profiles (chi-square), Kolmogorov distances (kstest, ks_2samp)."""

import numpy as np
import pytest
from scipy import stats

from losslab.probes.mde import cumulative_distribution
from losslab.probes.sampled_spectra import (
    block_labels, empirical_kolmogorov_distance, kolmogorov_distance, sample_block_profile_matrix,
    sample_kronecker_matrix, symmetric_eigenvalues,
)

BLOCK_VARIANCES = np.array([[1.0, 0.3, 2.0], [0.3, 0.5, 1.0], [2.0, 1.0, 0.2]])
BLOCK_FRACTIONS = np.array([0.5, 0.3, 0.2])


def test_block_profile_entry_variances_within_chi_square_interval():
    """Each block's n E h_ij^2 matches s_IJ: the sum of squares / s_IJ is chi^2 with one degree of
    freedom per independent entry (99.9 % two-sided interval, scipy.stats.chi2)."""
    n = 200
    h = sample_block_profile_matrix(BLOCK_VARIANCES, BLOCK_FRACTIONS, n, np.random.default_rng(0))
    labels = block_labels(BLOCK_FRACTIONS, n)
    assert np.array_equal(h, h.T)
    upper = np.triu(np.ones((n, n), dtype=bool))
    for i in range(3):
        for j in range(i, 3):
            mask = upper & (labels[:, None] == i) & (labels[None, :] == j)
            if i != j:
                mask |= upper & (labels[:, None] == j) & (labels[None, :] == i)
            dof = mask.sum()
            statistic = (h[mask] ** 2).sum() * n / BLOCK_VARIANCES[i, j]
            lo, hi = stats.chi2.ppf([0.0005, 0.9995], dof)
            assert lo <= statistic <= hi, (i, j, statistic / dof)
    wrong = (h[upper & (labels[:, None] == 0) & (labels[None, :] == 0)] ** 2).sum() * n / 1.1
    dof = (upper & (labels[:, None] == 0) & (labels[None, :] == 0)).sum()
    assert not stats.chi2.ppf(0.0005, dof) <= wrong <= stats.chi2.ppf(0.9995, dof)  # 10 % off: rejected


def test_kronecker_matrix_block_covariance():
    """An off-diagonal n x n block of sum_k X_k/sqrt(m) ⊗ B_k is sum_k x_k B_k / sqrt(m): its entry
    covariance is sum_k vec(B_k) vec(B_k)^T / m (sample covariance within 6 standard errors)."""
    rng = np.random.default_rng(1)
    b = rng.standard_normal((2, 2, 2))
    b = (b + b.transpose(0, 2, 1)) / 2
    m, draws = 4, 4000
    blocks = np.array([sample_kronecker_matrix(b, m, rng)[0:2, 2:4].ravel() for _ in range(draws)])
    expected = sum(np.outer(bk.ravel(), bk.ravel()) for bk in b) / m
    cov = blocks.T @ blocks / draws
    standard_error = np.sqrt((np.diag(expected)[:, None] * np.diag(expected)[None, :] + expected**2) / draws)
    assert (np.abs(cov - expected) <= 6 * standard_error).all()


def test_kolmogorov_distance_equals_scipy_kstest_for_continuous_cdf():
    rng = np.random.default_rng(2)
    x = np.linspace(-8, 8, 20001)
    normal = cumulative_distribution(x, stats.norm.pdf(x))
    for n in (10, 100, 1000):
        sample = rng.standard_normal(n)
        expected = stats.kstest(sample, lambda t: np.interp(t, x, normal(x))).statistic
        assert kolmogorov_distance(sample, normal) == pytest.approx(expected, abs=1e-12)


def test_kolmogorov_distance_with_an_atom_against_a_fine_grid_sup():
    """F = 0.4 δ_0 + 0.6 Uniform(-1, 1): the distance is the sup over a fine grid of both one-sided limits."""
    x = np.linspace(-1, 1, 2001)
    cdf = cumulative_distribution(x, np.full_like(x, 0.5), atoms=[(0.0, 0.4)])
    rng = np.random.default_rng(3)
    sample = np.where(rng.uniform(size=50) < 0.4, 1e-15 * rng.standard_normal(50), rng.uniform(-1, 1, 50))
    snapped = np.where(np.abs(sample) <= 1e-8, 0.0, sample)
    grid = np.sort(np.concatenate([np.linspace(-1.5, 1.5, 30001), snapped, snapped - 1e-12]))
    empirical = np.searchsorted(np.sort(snapped), grid, side="right") / snapped.size
    brute = np.abs(empirical - cdf(grid)).max()
    assert kolmogorov_distance(sample, cdf) == pytest.approx(brute, abs=1e-6)
    assert stats.kstest(snapped, cdf).statistic > kolmogorov_distance(sample, cdf) + 0.2  # kstest misreads atoms


def test_empirical_distance_is_ks_2samp_and_eigenvalues_are_numpys():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(30), rng.standard_normal(40)
    grid = np.sort(np.concatenate([a, b]))
    brute = np.abs(np.searchsorted(np.sort(a), grid, "right") / 30 - np.searchsorted(np.sort(b), grid, "right") / 40).max()
    assert empirical_kolmogorov_distance(a, b) == pytest.approx(brute, abs=1e-15)
    h = sample_block_profile_matrix(BLOCK_VARIANCES, BLOCK_FRACTIONS, 50, rng)
    assert np.abs(symmetric_eigenvalues(h) - np.linalg.eigvalsh(h)).max() <= 1e-12


def test_block_labels_round_the_block_sizes_and_the_last_block_takes_the_rest():
    """n = 8, fractions (0.45, 0.35, 0.2): sizes round(3.6) = 4, round(2.8) = 3, rest 1 (floor would give 3, 2, 3)."""
    assert block_labels([0.45, 0.35, 0.2], 8).tolist() == [0, 0, 0, 0, 1, 1, 1, 2]


def test_block_profile_diagonal_entries_have_the_block_variance():
    """The diagonal h_ii ~ N(0, s_II / n) too (not 2 s_II / n, nor 4 s_II / n from adding the diagonal twice):
    sum of h_ii^2 n / s_II is chi^2 with one degree of freedom per diagonal entry (99.9 % two-sided interval)."""
    n = 600
    h = sample_block_profile_matrix(BLOCK_VARIANCES, BLOCK_FRACTIONS, n, np.random.default_rng(5))
    labels, d = block_labels(BLOCK_FRACTIONS, n), np.diag(h)
    for i in range(3):
        statistic = (d[labels == i] ** 2).sum() * n / BLOCK_VARIANCES[i, i]
        lo, hi = stats.chi2.ppf([0.0005, 0.9995], (labels == i).sum())
        assert lo <= statistic <= hi, (i, statistic / (labels == i).sum())
