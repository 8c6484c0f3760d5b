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
run with continuation in eta = Im z from a large value down to the target; the vector equation is
then polished by damped Newton (a backtracking step that keeps Im m > 0), which converges near
spectral edges where the averaged iteration slows down.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

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


def _vector_residual(m, z, a, kernel):
    """1 + m (z - a + K m): zero at the solution (shapes: m (X, n), z (X, 1))."""
    return 1.0 + m * (z - a + _apply_kernel(m, kernel))


def _averaged_step(m, z, a, kernel):
    return 0.5 * (m - 1.0 / (z - a + _apply_kernel(m, kernel)))


def _newton_polish(m, z, a, kernel, tol, max_steps=60):
    """Damped Newton on 1 + m (z - a + K m) = 0, keeping Im m > 0; returns (m, residual norms)."""
    n = m.shape[1]
    eye = np.eye(n)
    res = _vector_residual(m, z, a, kernel)
    norm = np.abs(res).max(axis=1)
    for _ in range(max_steps):
        todo = norm > tol
        if not todo.any():
            break
        mt, zt = m[todo], z[todo]
        # Jacobian of r(m) = 1 + m (z - a + K m): diag(z - a + K m) + diag(m) K
        jac = (zt - a + _apply_kernel(mt, kernel))[:, :, None] * eye + mt[:, :, None] * kernel[None]
        step = np.linalg.solve(jac, -res[todo][:, :, None])[:, :, 0]
        t = np.ones(len(mt))
        new_norm = np.full(len(mt), np.inf)
        new_m = mt.copy()
        for _ in range(30):  # backtracking: accept when Im m stays > 0 and the residual drops
            cand = mt + t[:, None] * step
            cand_norm = np.abs(_vector_residual(cand, zt, a, kernel)).max(axis=1)
            ok = (cand.imag > 0).all(axis=1) & (cand_norm < norm[todo])
            accept = ok & ~np.isfinite(new_norm)
            new_m[accept], new_norm[accept] = cand[accept], cand_norm[accept]
            t = np.where(np.isfinite(new_norm), t, t / 2)
            if np.isfinite(new_norm).all():
                break
        stuck = ~np.isfinite(new_norm)  # no descent: take averaged steps instead (always in domain)
        if stuck.any():
            ms = mt[stuck]
            for _ in range(200):
                ms = _averaged_step(ms, zt[stuck], a, kernel)
            new_m[stuck] = ms
            new_norm[stuck] = np.abs(_vector_residual(ms, zt[stuck], a, kernel)).max(axis=1)
        m = m.copy()
        m[todo] = new_m
        norm = norm.copy()
        norm[todo] = new_norm
        res = _vector_residual(m, z, a, kernel)
    return m, norm


def solve_vector_dyson(z, kernel, a=None, *, m0=None, tol=1e-13, eta_start=4.0, eta_factor=4.0,
                       averaged_steps=10, return_residual=False):
    """Solution m(z) (shape z.shape + (n,)) of -1/m_i = z - a_i + sum_j K_ij m_j, Im m > 0.

    z: complex scalar or array with Im z > 0; kernel: (n, n) nonnegative K = s / N; a: (n,) or None.
    Continuation in eta: solve at Im z = max(eta_start, eta) and divide eta by eta_factor down to
    the target, each level by a few averaged HRS steps and a damped Newton polish.
    """
    kernel = np.asarray(kernel, dtype=float)
    n = kernel.shape[0]
    a = np.zeros(n) if a is None else np.asarray(a, dtype=float)
    z_arr = np.atleast_1d(np.asarray(z, dtype=complex))
    if (z_arr.imag <= 0).any():
        raise ValueError("the MDE is solved for Im z > 0")
    zf = z_arr.reshape(-1, 1)
    m = np.full((zf.shape[0], n), 1j) if m0 is None else np.broadcast_to(
        np.asarray(m0, dtype=complex), (zf.shape[0], n)).copy()
    eta_target = zf.imag
    eta = np.maximum(eta_start, eta_target)
    while True:
        zl = zf.real + 1j * eta
        for _ in range(averaged_steps):
            m = _averaged_step(m, zl, a, kernel)
        m, norm = _newton_polish(m, zl, a, kernel, tol)
        if np.all(eta <= eta_target):
            break
        eta = np.maximum(eta / eta_factor, eta_target)
    m = m.reshape(z_arr.shape + (n,))
    if np.ndim(z) == 0:
        m, norm = m[0], norm[0]
    return (m, norm) if return_residual else m


def stieltjes_transform(z, kernel, a=None, weights=None, **kw):
    """m(z) = sum_i w_i m_i(z) (w_i = 1/n unless block weights are given)."""
    m = solve_vector_dyson(z, kernel, a, **kw)
    n = np.asarray(kernel).shape[0]
    w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=float)
    return m @ w


def density(x, kernel, a=None, weights=None, eta=1e-10, **kw):
    """rho(x) = Im m(x + i eta) / pi with eta -> 0 (default 1e-10) on the real points x."""
    x = np.asarray(x, dtype=float)
    return stieltjes_transform(x + 1j * eta, kernel, a, weights, **kw).imag / np.pi


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


def cumulative_distribution(x, rho) -> np.ndarray:
    """CDF on the grid x by the trapezoid rule, normalized to end at 1 (x must cover the support)."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x))])
    return cdf / cdf[-1]


def self_energy_norm(kernel) -> float:
    """||S|| for the vector equation: the operator norm of S on matrices with the spectral norm.

    S is positivity preserving, so (Russo–Dye) ||S|| = ||S[1]|| = max_i sum_j K_ij, the
    infinity -> infinity norm (max row sum) of K = s / N.
    """
    return float(np.abs(np.asarray(kernel)).sum(axis=1).max())


# -- matrix Dyson equation (general S) ----------------------------------------------------------


def variance_profile_operator(s) -> Callable[[np.ndarray], np.ndarray]:
    """S[R] = (1/N) E[W R W] for real symmetric W with independent entries, E w_ij^2 = s_ij.

    S[R]_ij = (1/N) (delta_ij sum_k s_ik R_kk + s_ij R_ji [i != j]).
    """
    s = np.asarray(s, dtype=float)
    n = s.shape[0]

    def apply(r):
        off = s * r.T
        off[np.diag_indices(n)] = 0.0
        return (np.diag(s @ np.diag(r)) + off) / n

    return apply


def kraus_operator(generators) -> Callable[[np.ndarray], np.ndarray]:
    """S[R] = (1/N) sum_k B_k R B_k for W = sum_k g_k B_k (g_k iid N(0,1), B_k real symmetric).

    This is the covariance map of a Gaussian matrix with correlated entries.
    """
    bs = np.asarray(generators, dtype=float)
    n = bs.shape[1]
    return lambda r: np.einsum("kij,jl,klm->im", bs, r, bs) / n


def solve_matrix_dyson(z, self_energy, a=None, *, m0=None, tol=1e-14, max_iter=20000,
                       eta_start=2.0) -> np.ndarray:
    """Solution M(z) of -M^{-1} = z - A + S[M], Im M > 0, by HRS averaged iteration with
    continuation in eta (from max(eta_start, Im z) halving down to Im z).

    self_energy: a function R -> S[R] on (n, n) complex matrices; a: (n, n) Hermitian or None.
    """
    z = complex(z)
    if z.imag <= 0:
        raise ValueError("the MDE is solved for Im z > 0")
    m = np.asarray(m0, dtype=complex).copy() if m0 is not None else None
    n = m.shape[0] if m is not None else (np.asarray(a).shape[0] if a is not None else None)
    if n is None:
        raise ValueError("give a or m0 so that the dimension is known")
    a = np.zeros((n, n)) if a is None else np.asarray(a, dtype=complex)
    m = 1j * np.eye(n, dtype=complex) if m is None else m
    eye = np.eye(n)
    eta = max(eta_start, z.imag)
    while True:
        zl = z.real + 1j * eta
        for _ in range(max_iter):
            new = 0.5 * (m + np.linalg.solve(a - zl * eye - self_energy(m), eye))
            change = np.abs(new - m).max()
            m = new
            if change < tol:
                break
        if eta <= z.imag:
            return m
        eta = max(eta / 2, z.imag)


def matrix_dyson_residual(m, z, self_energy, a=None) -> float:
    """max |I + (z - A + S[M]) M|: the MDE residual of a candidate M."""
    n = m.shape[0]
    a = np.zeros((n, n)) if a is None else a
    return float(np.abs(np.eye(n) + (z * np.eye(n) - a + self_energy(m)) @ m).max())
