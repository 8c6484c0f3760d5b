"""The Lanczos-deflated ‖H‖_F² estimator and the SLQ window-mass lower bound against known spectra."""

import math

import pytest
import torch

from losslab.probes.frobenius import frobenius_sq_deflated, frobenius_sq_hutchinson
from losslab.probes.lanczos import lanczos, random_start
from losslab.probes.operators import MatrixOperator, matrix_with_spectrum
from losslab.probes.spectral_density import window_mass_lower_bound

# Hessian-like: a few outliers, a bulk at zero, a few negative values
SPECTRUM = torch.cat([torch.tensor([40.0, 15.0, 8.0, 4.0, 2.0, 1.0]), torch.linspace(-0.05, 0.05, 394),
                      torch.tensor([-0.3, -0.2])]).double()


@pytest.fixture(scope="module")
def op():
    return MatrixOperator(matrix_with_spectrum(SPECTRUM, seed=1))


def test_deflated_frobenius_identity_is_exact_without_rest(op):
    """With a full Krylov basis the rest term vanishes: ‖T‖_F² + 2β² equals ‖H‖_F² to rounding."""
    small = MatrixOperator(matrix_with_spectrum(torch.linspace(-1.0, 3.0, 30).double(), seed=2))
    result = lanczos(small, 30, random_start(small, 0))
    est = frobenius_sq_deflated(small, result, probes=3, seed=1)
    assert math.isclose(est.value, torch.linspace(-1.0, 3.0, 30).double().pow(2).sum().item(), rel_tol=1e-9)


def test_deflated_frobenius_unbiased_and_tighter_than_hutchinson(op):
    exact = SPECTRUM.pow(2).sum().item()
    result = lanczos(op, 20, random_start(op, 3))
    est = frobenius_sq_deflated(op, result, probes=20, seed=4)
    plain = frobenius_sq_hutchinson(op, probes=20, seed=4)
    assert abs(est.value - exact) <= 4 * est.standard_error + 1e-9 * exact
    assert est.standard_error < 0.01 * plain.standard_error  # the outliers are deflated exactly
    means = [frobenius_sq_deflated(op, lanczos(op, 3, random_start(op, s)), probes=5, seed=100 + s).value
             for s in range(40)]  # few steps: the rest term matters; the average stays on target
    mean, se = torch.tensor(means).mean().item(), torch.tensor(means).std().item() / math.sqrt(40)
    assert abs(mean - exact) <= 4 * se


def test_deflated_frobenius_wrong_rest_is_detected(op):
    """Negative control: dropping the 2β² cross term (a plausible slip) misses by many standard errors."""
    exact = SPECTRUM.pow(2).sum().item()
    result = lanczos(op, 8, random_start(op, 5))
    est = frobenius_sq_deflated(op, result, probes=20, seed=6)
    assert abs(est.value - 2 * result.beta_last**2 - exact) > 4 * est.standard_error


def _probe_mass(op, start, low, high):
    lam, vecs = torch.linalg.eigh(op.matrix)
    w = (vecs.T @ (start / start.norm())) ** 2
    return w[(lam > low) & (lam < high)].sum().item()


@pytest.mark.parametrize("steps", [10, 30, 80])
def test_window_mass_lower_bound_holds(op, steps):
    start = random_start(op, 7)
    result = lanczos(op, steps, start)
    theta, s = torch.linalg.eigh(result.tridiagonal())
    for low, high in ((-0.06, 0.06), (-0.5, 0.06), (0.5, 50.0)):
        bound = window_mass_lower_bound(theta, s[0] ** 2, low, high)
        assert bound <= _probe_mass(op, start, low, high) + 1e-9, (steps, low, high)
    tight = window_mass_lower_bound(theta, s[0] ** 2, -0.06, 0.06)
    if steps == 80:  # enough nodes in the bulk: the bound is close to the true fraction 394/402
        assert tight > 394 / 402 - 0.1


def test_window_mass_lower_bound_rejects_empty_window(op):
    """Negative control: a window between the bulk and the outliers holds no mass and gets bound 0."""
    result = lanczos(op, 80, random_start(op, 8))
    theta, s = torch.linalg.eigh(result.tridiagonal())
    assert window_mass_lower_bound(theta, s[0] ** 2, 0.1, 0.9) <= 0.02
