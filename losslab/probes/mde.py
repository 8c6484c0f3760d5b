"""Matrix Dyson Equation (MDE) solver: density of states of random matrices with a variance profile.

Conventions (Li 2019, Appendix A.2, eq. (18)-(19), following Erdős–Krüger–Schröder 2017):
    H = A + W / sqrt(N),   A = E[H],   S[R] = (1/N) E_W[W R W]   (a positivity-preserving linear map)
    I + (z - A + S[M]) M = 0,   i.e.   -M(z)^{-1} = z·1 - A + S[M(z)],   Im M > 0,  Im z > 0.
The resolvent (H - z)^{-1} of H is close to M(z); the Stieltjes transform of the limiting
eigenvalue density is m(z) = (1/N) tr M(z) and rho(x) = lim_{eta->0} Im m(x + i eta) / pi.

Vector Dyson equation (independent entries, A = diag(a)): for s_ij = E|w_ij|^2 = N E|h_ij|^2 and
diagonal M = diag(m), the diagonal of S[M] is (1/N) sum_j s_ij m_j, so
    -1 / m_i = z - a_i + sum_j K_ij m_j,   K = s / N   (the "kernel").
The off-diagonal part of S[M] (terms s_ij M_ji) is O(1/N) and dropped, as usual.
A block-constant profile (blocks of fractions f_J, variances s_IJ) reduces exactly to a small
system with K_IJ = s_IJ f_J and trace weights f_I (`block_kernel`).

Algorithm: Helton–Rashidi Far–Speicher (2007) averaged iteration M <- (M + F(M)) / 2 with
F(M) = (A - z - S[M])^{-1} (it maps Im M > 0 into itself and converges from any such start),
run with continuation in eta = Im z from a large value down to the target, each level polished
by Newton's method (steps halved only to keep Im M > 0), which converges near spectral edges and
cusps where the averaged iteration stalls.

Every solve returns a `DysonSolution` with the residual, a first-order error bound
||J^{-1}|| max(residual, eps) (J the Jacobian of the equation: near a cusp J is nearly singular
and a tiny residual does not mean an accurate M) and a converged flag; `density` and
`stieltjes_transform` raise `NotConverged` rather than return an unconverged number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

EPS = np.finfo(float).eps


class NotConverged(RuntimeError):
    """The MDE solve did not reach its tolerance at some spectral parameters z."""


@dataclass(frozen=True)
class DysonSolution:
    """m: the solution (z.shape + (n,) or z.shape + (n, n)); residual: max |equation| per z;
    error: first-order bound on max |m - m_exact| per z; converged: residual <= tol and
    error <= atol max(1, max |m|)."""

    m: np.ndarray
    residual: np.ndarray
    error: np.ndarray
    converged: np.ndarray

    def raise_if_not_converged(self, z) -> None:
        bad = ~np.asarray(self.converged)
        if bad.any():
            zs = np.atleast_1d(np.asarray(z))[np.atleast_1d(bad)]
            raise NotConverged(f"MDE not converged at {bad.sum()} of {bad.size} points, e.g. z = {zs[0]:.6g}: "
                               f"residual {np.max(self.residual[bad]):.3g}, error bound {np.max(self.error[bad]):.3g}")


# -- one solver core: continuation in eta, averaged HRS steps, Newton polish ---------------------


def _newton(u, residual, jacobian, in_domain, max_steps):
    """Newton on residual(u) = 0 for a batch u (X, d); a step is halved while it leaves the domain
    (Im m > 0). No descent test: near a cusp the residual is not monotone along Newton's path.
    A point stops when its residual or its step reaches rounding level."""
    active = np.ones(len(u), dtype=bool)
    for _ in range(max_steps):
        ua = u[active]
        res = residual(ua, active)
        step = np.linalg.solve(jacobian(ua, active), -res[:, :, None])[:, :, 0]
        t = np.ones((len(ua), 1))
        for _ in range(60):
            cand = ua + t * step
            inside = in_domain(cand)[:, None]
            if inside.all():
                break
            t = np.where(inside, t, t / 2)
        u = u.copy()
        u[active] = np.where(inside, cand, ua)
        done = (np.abs(res).max(axis=1) <= 8 * EPS) | (np.abs(t * step).max(axis=1) <= 8 * EPS * np.abs(ua).max(axis=1))
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            break
    return u


def _solve(z, u0, averaged_step, residual, jacobian, in_domain, *, tol, atol, eta_start, eta_factor,
           averaged_steps, newton_steps):
    """Continuation in eta from max(eta_start, Im z) down to Im z by eta_factor; returns
    (u, residual norm, error bound, converged) for the flat batch of z values."""
    eta_target = z.imag
    eta = np.maximum(eta_start, eta_target)
    u = u0
    while True:
        zl = z.real + 1j * eta
        for _ in range(averaged_steps):
            u = averaged_step(u, zl)
        u = _newton(u, lambda v, rows: residual(v, zl[rows]), lambda v, rows: jacobian(v, zl[rows]), in_domain,
                    newton_steps)
        if np.all(eta <= eta_target):
            break
        eta = np.maximum(eta / eta_factor, eta_target)
    res = np.abs(residual(u, z)).max(axis=1)
    inverse_norm = np.abs(np.linalg.inv(jacobian(u, z))).sum(axis=2).max(axis=1)  # ||J^{-1}||_inf
    error = inverse_norm * np.maximum(res, EPS)
    return u, res, error, (res <= tol) & (error <= atol * np.maximum(1.0, np.abs(u).max(axis=1))) & in_domain(u)


def _upper_half_plane_z(z):
    z_arr = np.atleast_1d(np.asarray(z, dtype=complex))
    if (z_arr.imag <= 0).any():
        raise ValueError("the MDE is solved for Im z > 0")
    return z_arr, z_arr.reshape(-1, 1)


# -- vector Dyson equation ----------------------------------------------------------------------


def block_kernel(block_variances, fractions) -> tuple[np.ndarray, np.ndarray]:
    """(K, weights) of a block-constant variance profile: K_IJ = s_IJ f_J, weights = f_I."""
    s = np.asarray(block_variances, dtype=float)
    f = np.asarray(fractions, dtype=float)
    if not np.isclose(f.sum(), 1.0):
        raise ValueError(f"block fractions must sum to 1, got {f.sum()}")
    return s * f[None, :], f


def _apply_kernel(m, kernel):
    """Rows of K m for m of shape (X, n). einsum, not BLAS: threaded BLAS on many tiny products is
    slow on a loaded machine."""
    return np.einsum("xj,ij->xi", m, kernel)


def solve_vector_dyson(z, kernel, a=None, *, m0=None, tol=1e-12, atol=1e-9, eta_start=4.0,
                       eta_factor=4.0, averaged_steps=10, newton_steps=100) -> DysonSolution:
    """Solution m(z) (shape z.shape + (n,)) of -1/m_i = z - a_i + sum_j K_ij m_j, Im m > 0.

    z: complex scalar or array with Im z > 0; kernel: (n, n) nonnegative K = s / N; a: (n,) or None.
    tol bounds the residual max|1 + m (z - a + K m)|, atol the error bound relative to max(1, |m|).
    """
    kernel = np.asarray(kernel, dtype=float)
    n = kernel.shape[0]
    a = np.zeros(n) if a is None else np.asarray(a, dtype=float)
    z_arr, zf = _upper_half_plane_z(z)
    m = np.full((zf.shape[0], n), 1j) if m0 is None else np.broadcast_to(
        np.asarray(m0, dtype=complex), (zf.shape[0], n)).copy()
    eye = np.eye(n)
    m, res, err, ok = _solve(
        zf, m,
        averaged_step=lambda m, z: 0.5 * (m - 1.0 / (z - a + _apply_kernel(m, kernel))),
        residual=lambda m, z: 1.0 + m * (z - a + _apply_kernel(m, kernel)),
        # d/dm of 1 + m (z - a + K m): diag(z - a + K m) + diag(m) K
        jacobian=lambda m, z: (z - a + _apply_kernel(m, kernel))[:, :, None] * eye + m[:, :, None] * kernel[None],
        in_domain=lambda m: (m.imag > 0).all(axis=1),
        tol=tol, atol=atol, eta_start=eta_start, eta_factor=eta_factor, averaged_steps=averaged_steps,
        newton_steps=newton_steps)
    shape = z_arr.shape if np.ndim(z) else ()
    return DysonSolution(m.reshape(shape + (n,)), res.reshape(shape), err.reshape(shape), ok.reshape(shape))


def stieltjes_transform(z, kernel, a=None, weights=None, **kw) -> np.ndarray:
    """m(z) = sum_i w_i m_i(z) (w_i = 1/n unless block weights are given); raises NotConverged."""
    sol = solve_vector_dyson(z, kernel, a, **kw)
    sol.raise_if_not_converged(z)
    n = np.asarray(kernel).shape[0]
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float)
    return sol.m @ w


def density(x, kernel, a=None, weights=None, eta=1e-10, **kw) -> np.ndarray:
    """rho(x) = Im m(x + i eta) / pi with eta -> 0 (default 1e-10) on the real points x; raises NotConverged."""
    x = np.asarray(x, dtype=float)
    return stieltjes_transform(x + 1j * eta, kernel, a, weights, **kw).imag / np.pi


def atom_mass(x0, kernel, a=None, weights=None, eta=1e-7, **kw) -> float:
    """Mass of the atom of the limiting distribution at x0: lim_{eta->0} eta Im m(x0 + i eta)."""
    return float(eta * stieltjes_transform(x0 + 1j * eta, kernel, a, weights, **kw).imag)


def support_intervals(x, rho, threshold=1e-6) -> list[tuple[float, float]]:
    """Support estimate: maximal runs of grid points x (sorted) where rho > threshold."""
    inside = np.asarray(rho) > threshold
    intervals, start = [], None
    for xi, flag in zip(x, inside):
        if flag and start is None:
            start = xi
        if not flag and start is not None:
            intervals.append((start, prev))
            start = None
        prev = xi
    if start is not None:
        intervals.append((start, prev))
    return intervals


def cumulative_distribution(x, rho, atoms=()) -> Callable[[np.ndarray], np.ndarray]:
    """Right-continuous CDF F(t) of the continuous density rho on the grid x (trapezoid rule,
    normalized to 1 - atom mass; x must cover the support) plus atoms [(location, mass), ...].

    F.atoms holds the atoms (for left limits F(t-) = F(t) - mass at t).
    """
    atoms = [(float(loc), float(mass)) for loc, mass in atoms]
    continuous = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x))])
    continuous *= (1.0 - sum(mass for _, mass in atoms)) / continuous[-1]

    def cdf(t):
        t = np.asarray(t, dtype=float)
        return np.interp(t, x, continuous) + sum(mass * (t >= loc) for loc, mass in atoms)

    cdf.atoms = atoms
    return cdf


def self_energy_norm(kernel) -> float:
    """||S|| for the vector equation: the operator norm of S on matrices with the spectral norm.

    S is positivity preserving, so (Russo–Dye) ||S|| = ||S[1]|| = max_i sum_j K_ij, the
    infinity -> infinity norm (max row sum) of K = s / N.
    """
    return float(np.abs(np.asarray(kernel)).sum(axis=1).max())


# -- matrix Dyson equation (general S) ----------------------------------------------------------


def variance_profile_operator(s) -> Callable[[np.ndarray], np.ndarray]:
    """S[R] = (1/N) E[W R W] for real symmetric W with independent entries, E w_ij^2 = s_ij.

    S[R]_ij = (1/N) (delta_ij sum_k s_ik R_kk + s_ij R_ji [i != j]); R of shape (..., n, n).
    """
    s = np.asarray(s, dtype=float)
    n = s.shape[0]
    off_diagonal = 1.0 - np.eye(n)

    def apply(r):
        diagonal = np.einsum("ik,...kk->...i", s, r)
        return (s * off_diagonal * np.swapaxes(r, -1, -2) + diagonal[..., None] * np.eye(n)) / n

    return apply


def kraus_operator(generators) -> Callable[[np.ndarray], np.ndarray]:
    """S[R] = (1/N) sum_k B_k R B_k for W = sum_k g_k B_k (g_k iid N(0,1), B_k real symmetric).

    This is the covariance map of a Gaussian matrix with correlated entries; R of shape (..., n, n).
    """
    bs = np.asarray(generators, dtype=float)
    n = bs.shape[1]
    return lambda r: sum(b @ r @ b for b in bs) / n


def _imaginary_part_positive(m):
    """Im M = (M - M^*) / 2i positive definite, for each M in the batch."""
    return (np.linalg.eigvalsh((m - np.conj(np.swapaxes(m, -1, -2))) / 2j) > 0).all(axis=-1)


def solve_matrix_dyson(z, self_energy, a=None, *, n=None, m0=None, tol=1e-12, atol=1e-9, eta_start=2.0,
                       eta_factor=10.0, averaged_steps=10, newton_steps=100) -> DysonSolution:
    """Solution M(z) (shape z.shape + (n, n)) of -M^{-1} = z - A + S[M], Im M > 0.

    self_energy: a complex-linear map R -> S[R] on (..., n, n) arrays; a: (n, n) Hermitian or None
    (then give n or m0). Newton's Jacobian d/dM [I + (z - A + S[M]) M] = (z - A + S[M]) dM + S[dM] M
    is assembled from S applied to the n^2 matrix units.
    """
    if a is not None:
        n = np.asarray(a).shape[0]
    elif m0 is not None:
        n = np.asarray(m0).shape[-1]
    if n is None:
        raise ValueError("give a, n or m0 so that the dimension is known")
    a = np.zeros((n, n)) if a is None else np.asarray(a, dtype=complex)
    z_arr, zf = _upper_half_plane_z(z)
    eye = np.eye(n)
    units = np.eye(n * n).reshape(n * n, n, n)  # matrix units E_kl, row-major
    s_units = self_energy(units.astype(complex))
    mat = lambda u: u.reshape(-1, n, n)  # noqa: E731
    start = 1j * eye if m0 is None else np.asarray(m0, dtype=complex)
    u0 = np.broadcast_to(start, (len(zf), n, n)).reshape(len(zf), n * n).copy()

    def jacobian(u, z):
        m = mat(u)
        left = z[:, :, None] * eye - a + self_energy(m)                    # (X, n, n)
        first = np.einsum("xik,jl->xijkl", left, eye)                      # (left dM)_ij, dM = E_kl
        second = np.einsum("pil,xlj->xijp", s_units, m)                    # (S[E_kl] M)_ij
        return first.reshape(len(u), n * n, n * n) + second.reshape(len(u), n * n, n * n)

    u, res, err, ok = _solve(
        zf, u0,
        averaged_step=lambda u, z: 0.5 * (u + np.linalg.inv(a - z[:, :, None] * eye - self_energy(mat(u))).reshape(len(u), -1)),
        residual=lambda u, z: (eye + (z[:, :, None] * eye - a + self_energy(mat(u))) @ mat(u)).reshape(len(u), -1),
        jacobian=jacobian, in_domain=lambda u: _imaginary_part_positive(mat(u)),
        tol=tol, atol=atol, eta_start=eta_start, eta_factor=eta_factor, averaged_steps=averaged_steps,
        newton_steps=newton_steps)
    shape = z_arr.shape if np.ndim(z) else ()
    return DysonSolution(u.reshape(shape + (n, n)), res.reshape(shape), err.reshape(shape), ok.reshape(shape))


def matrix_dyson_residual(m, z, self_energy, a=None) -> float:
    """max |I + (z - A + S[M]) M|: the MDE residual of a candidate M."""
    n = m.shape[0]
    a = np.zeros((n, n)) if a is None else a
    return float(np.abs(np.eye(n) + (z * np.eye(n) - a + self_energy(m)) @ m).max())
