"""losslab.experiments.wze17.rank_tests against exact answers."""

import itertools
import math

import numpy as np
from scipy import stats

from losslab.experiments.wze17.rank_tests import bootstrap_rank_interval, partial_spearman, rank_correlation_test


def test_plain_rho_is_scipy_spearman():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=9), rng.normal(size=9)
    assert math.isclose(partial_spearman(x, y), stats.spearmanr(x, y).statistic, abs_tol=1e-12)


def test_partial_rho_is_the_closed_form_on_ranks():
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(3, 10))
    r = lambda a, b: stats.spearmanr(a, b).statistic  # noqa: E731
    closed = (r(x, y) - r(x, z) * r(y, z)) / math.sqrt((1 - r(x, z) ** 2) * (1 - r(y, z) ** 2))
    assert math.isclose(partial_spearman(x, y, z), closed, abs_tol=1e-12)


def test_exact_p_of_a_perfectly_falling_series_is_one_over_n_factorial():
    result = rank_correlation_test(np.arange(5.0), -np.arange(5.0))
    assert result["null"] == "exact" and math.isclose(result["rho"], -1.0)
    assert math.isclose(result["p"], 1 / 120)


def test_exact_null_quantile_matches_enumeration():
    """The critical value is the 5% quantile of ρ over all 6! pairings."""
    x = np.arange(6.0)
    null = [stats.spearmanr(x, p).statistic for p in itertools.permutations(x)]
    assert math.isclose(rank_correlation_test(x, x[::-1])["critical"], np.quantile(null, 0.05), abs_tol=1e-12)


def test_partial_test_rejects_a_link_through_the_control_only():
    """x and y both follow z: the plain test finds ρ < 0, the partial one does not."""
    rng = np.random.default_rng(2)
    z = np.arange(8.0)
    x, y = z + 0.3 * rng.normal(size=8), -z + 0.3 * rng.normal(size=8)
    assert rank_correlation_test(x, y)["p"] < 0.05
    assert rank_correlation_test(x, y, z)["p"] > 0.05


def test_bootstrap_interval_contains_the_estimate_of_a_strong_link():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = -x + 0.2 * rng.normal(size=30)
    lo, hi = bootstrap_rank_interval(x, y)
    assert lo <= partial_spearman(x, y) <= hi < 0
