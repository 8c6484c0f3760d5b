"""LP17 Prop. 1 / Cor. 1: zero-error minima are degenerate, non-zero minima at the same N are not.

Pipeline: losslab.experiments.lp17.minima (tiny float64 nets, L-BFGS, exact Hessians). Every point called a
minimum passes the stationarity and curvature check first.
"""

import functools

import pytest

from losslab.experiments.lp17.minima import measure, verified_minimum
from losslab.seeds import claim_seeds

ZERO_ERROR_NETS = [("poly z+z^2", 6), ("tanh", 6)]  # width 6: K = 31 > N
NONZERO_NET = ("tanh", 1)  # width 1: K = 6 < N, and tanh has no continuous symmetry


@functools.cache
def _minima(n_points, gradient_tol, eigenvalue_tol, zero_loss):
    """(zero-error minima with every start tried, non-zero minima) for 3 seeds."""
    seeds = claim_seeds("LP17-PROP1", 3)
    zero = [verified_minimum(a, w, n_points, s, gradient_tol, eigenvalue_tol, zero_loss)
            for a, w in ZERO_ERROR_NETS for s in seeds]
    nonzero = [verified_minimum(*NONZERO_NET, n_points, s, gradient_tol, eigenvalue_tol, inits=2)[0] for s in seeds]
    return zero, nonzero


def verified_nonzero(claim):
    """The non-zero minima that pass the minimum check (a width-1 tanh net can run off to a saturated
    minimum at infinity, which never verifies: such seeds are reported, not counted)."""
    return [p for p in minima(claim)[1] if is_minimum(claim, p) and p.loss > claim.threshold("zero_loss_max")]


def minima(claim):
    return _minima(claim.threshold("n_points"), claim.threshold("gradient_norm_max"),
                   claim.threshold("eigenvalue_relative_tol"), claim.threshold("zero_loss_max"))


def is_minimum(claim, point):
    return point.is_minimum(claim.threshold("gradient_norm_max"), claim.threshold("eigenvalue_relative_tol"))


def degenerate(claim, point):
    """At least K - N eigenvalues within the tolerance of 0."""
    return point.zero_eigenvalues(claim.threshold("eigenvalue_relative_tol")) >= point.K - point.n_points


def nondegenerate(claim, point):
    return point.zero_eigenvalues(claim.threshold("eigenvalue_relative_tol")) == 0


def _rows(claim, points):
    return [p.row(claim.threshold("eigenvalue_relative_tol")) for p in points]


@pytest.mark.claim("LP17-PROP1", parts=["zero_error_degenerate"])
def test_zero_error_minima_have_at_least_k_minus_n_zero_eigenvalues(evidence, claim):
    zero, _ = minima(claim)
    points = [p for p, _ in zero]
    tol = claim.threshold("eigenvalue_relative_tol")
    evidence.headline("min over minima of #zero eigenvalues - (K - N)",
                      min(p.zero_eigenvalues(tol) - (p.K - p.n_points) for p in points))
    evidence.record(measured={"minima": _rows(claim, points),
                              "starts tried": [_rows(claim, tried) for _, tried in zero if len(tried) > 1]},
                    seeds=sorted({p.seed for p in points}), dtype="float64", device="cpu")
    for p in points:
        assert is_minimum(claim, p) and p.loss <= claim.threshold("zero_loss_max"), f"no zero-error minimum: {p.row(tol)}"
        assert degenerate(claim, p), f"fewer than K - N zero eigenvalues: {p.row(tol)}"


@pytest.mark.claim("LP17-PROP1", parts=["nonzero_nondegenerate"])
def test_nonzero_minima_at_the_same_n_are_nondegenerate(evidence, claim):
    _, tried = minima(claim)
    nonzero = verified_nonzero(claim)
    tol = claim.threshold("eigenvalue_relative_tol")
    evidence.record(measured={"verified minima": _rows(claim, nonzero), "last start per seed": _rows(claim, tried)},
                    seeds=[p.seed for p in tried], dtype="float64", device="cpu")
    if not nonzero:
        evidence.inconclusive("no seed reached a verified non-zero minimum")
        return
    evidence.headline("max over non-zero minima of #zero eigenvalues", max(p.zero_eigenvalues(tol) for p in nonzero))
    assert all(nondegenerate(claim, p) for p in nonzero), f"degenerate non-zero minimum: {_rows(claim, nonzero)}"


@pytest.mark.claim("LP17-PROP1", parts=["zero_error_degenerate", "nonzero_nondegenerate"], control=True)
def test_control_initialisation_fails_the_minimum_check(evidence, claim):
    """The untrained point (the training to a zero-error minimum removed): non-zero residuals put the
    Hessian's residual term back, and both the minimum check and the K - N zero-eigenvalue count reject it."""
    seed = claim_seeds("LP17-PROP1", 1)[0]
    wide = [measure(a, w, claim.threshold("n_points"), seed, train=False) for a, w in ZERO_ERROR_NETS]
    points = wide + [measure(*NONZERO_NET, claim.threshold("n_points"), seed, train=False)]
    evidence.record(removes="the training to a minimum: the initialisation", measured=_rows(claim, points),
                    dtype="float64", device="cpu")
    evidence.headline("min |grad L| at the initialisation", min(p.gradient_norm for p in points))
    assert not any(is_minimum(claim, p) for p in points), f"{_rows(claim, points)}"
    assert not any(degenerate(claim, p) for p in wide), f"{_rows(claim, wide)}"


@pytest.mark.claim("LP17-PROP1", parts=["nonzero_nondegenerate"], control=True)
def test_control_nondegeneracy_check_rejects_zero_error_minima(evidence, claim):
    """The zero-error minima at the same N (the non-zero loss removed): the no-zero-eigenvalue check rejects."""
    zero, _ = minima(claim)
    points = [p for p, _ in zero]
    tol = claim.threshold("eigenvalue_relative_tol")
    evidence.record(removes="the non-zero loss: zero-error minima at the same N", measured=_rows(claim, points))
    evidence.headline("min over zero-error minima of #zero eigenvalues", min(p.zero_eigenvalues(tol) for p in points))
    assert not any(nondegenerate(claim, p) for p in points), f"{_rows(claim, points)}"
