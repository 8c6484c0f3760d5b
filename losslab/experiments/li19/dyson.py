"""LI19 Appendix A on the Matrix Dyson Equation: Lemma A.2 (M(-conj z) = -M(z)^* for A = 0),
Theorem A.2 (symmetric density), the support bound and sampled spectra (Theorem A.1).

MDE (eq. (18)): -M^{-1} = z - A + S[M], Im M > 0, Im z > 0; S[R] = (1/N) E[W R W].
Every measurement returns plain numbers (dicts) and the seed it drew from.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from losslab.probes.mde import (
    DysonSolution, block_kernel, cumulative_distribution, density, kraus_operator, matrix_dyson_residual,
    self_energy_norm, solve_matrix_dyson, solve_vector_dyson, variance_profile_operator,
)
from losslab.probes.sampled_spectra import (
    empirical_kolmogorov_distance, kolmogorov_distance, sample_block_profile_matrix, sample_kronecker_matrix,
    symmetric_eigenvalues,
)

# -- Lemma A.2 ------------------------------------------------------------------------------------

SELF_ENERGY_KINDS = ("profile", "blocks", "kraus")


def random_self_energy(kind: str, n: int, rng: np.random.Generator) -> Callable:
    """A positivity-preserving S: an independent-entry variance profile, a block profile, or a
    correlated (Kraus) covariance map."""
    if kind == "profile":
        s = rng.uniform(0, 3, (n, n))
        return variance_profile_operator((s + s.T) / 2)
    if kind == "blocks":
        labels = rng.integers(0, 2, n)
        blocks = rng.uniform(0, 3, (2, 2))
        return variance_profile_operator(((blocks + blocks.T) / 2)[labels][:, labels])
    b = rng.standard_normal((3, n, n))
    return kraus_operator((b + b.transpose(0, 2, 1)) / 2)


def random_upper_half_plane_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    """A start point with Im M > 0 far from the solution: X + i (Y Y^T + 1/2)."""
    x = rng.standard_normal((n, n))
    y = rng.standard_normal((n, n))
    return (x + x.T) + 1j * (y @ y.T + 0.5 * np.eye(n))


def capped_solver(steps: int = 20) -> Callable:
    """Control: `steps` HRS averaged steps at the target z, no continuation, no Newton, no flag check."""
    def solve(z, self_energy, a, m0=None):
        return solve_matrix_dyson(z, self_energy, a, m0=m0, eta_start=np.imag(z), averaged_steps=steps,
                                  newton_steps=0)
    return solve


def solver_ignoring_self_energy(z, self_energy, a, m0=None) -> DysonSolution:
    """Control: M = (A - z)^{-1}, the MDE with S = 0 (it satisfies Lemma A.2 for A = 0 trivially)."""
    n = a.shape[0]
    return solve_matrix_dyson(z, lambda r: np.zeros_like(r), a, m0=m0, n=n)


def lemma_a2_case(kind, n, z, seed, a=None, solver=solve_matrix_dyson) -> dict:
    """One Lemma A.2 check: solve at z (start i·1) and at -conj z (a random start with Im M > 0);
    gap = ||M(-conj z) + M(z)^*||_op, and both MDE residuals computed with the true S."""
    rng = np.random.default_rng(seed)
    self_energy = random_self_energy(kind, n, rng)
    a = np.zeros((n, n)) if a is None else a(rng, n)
    m = solver(z, self_energy, a).m
    start = random_upper_half_plane_matrix(n, rng)
    m_mirror = solver(-np.conj(z), self_energy, a, m0=start).m
    return {"gap": float(np.linalg.norm(m_mirror + m.conj().T, 2)),
            "start distance": float(np.linalg.norm(start + m.conj().T, 2)),
            "residual": max(matrix_dyson_residual(m, z, self_energy, a),
                            matrix_dyson_residual(m_mirror, -np.conj(z), self_energy, a)),
            "kind": kind, "n": n, "z": [z.real, z.imag], "seed": seed}


def lemma_a2_cases(seed: int, count: int = 24) -> list[tuple]:
    """(kind, n, z, seed) drawn from one seed: kinds cycled, n in 2..6, Re z in [-3, 3], Im z in [0.1, 1]."""
    rng = np.random.default_rng(seed)
    return [(SELF_ENERGY_KINDS[i % 3], int(rng.integers(2, 7)), complex(rng.uniform(-3, 3), rng.uniform(0.1, 1)),
             int(rng.integers(2**31))) for i in range(count)]


def lemma_a2_sweep(seed: int, solver=solve_matrix_dyson, count: int = 24) -> dict:
    """Worst gap, worst residual and the closest start over `count` cases."""
    rows = [lemma_a2_case(kind, n, z, s, solver=solver) for kind, n, z, s in lemma_a2_cases(seed, count)]
    return {"max gap": max(r["gap"] for r in rows), "max residual": max(r["residual"] for r in rows),
            "min start distance": min(r["start distance"] for r in rows), "cases": len(rows), "seed": seed}


# -- Theorem A.2: symmetry of the density -----------------------------------------------------------

SYMMETRY_GRID = np.linspace(0.001, 4, 1000)  # positive half; the mirrored half is solved separately


def density_mirror_gap(kernel, weights, a, rng) -> float:
    """max_x |rho(x) - rho(-x)| on SYMMETRY_GRID; the -x solves start from a random point with
    Im m > 0 and another continuation path, so they are not the bitwise mirror of the +x solves."""
    n = kernel.shape[0]
    rho = density(SYMMETRY_GRID, kernel, a, weights)
    start = rng.uniform(-2, 2, n) + 1j * rng.uniform(0.2, 3, n)
    rho_mirror = density(-SYMMETRY_GRID, kernel, a, weights, m0=start, eta_start=3.0, eta_factor=3.0)
    return float(np.abs(rho - rho_mirror).max())


def random_block_profile(rng, blocks):
    s = rng.uniform(0, 3, (blocks, blocks))
    return (s + s.T) / 2, rng.dirichlet(np.ones(blocks))


def symmetry_zero_expectation(seed: int) -> dict:
    """Theorem A.2: A = 0, random block profiles with 1, 2, 3, 5 blocks."""
    rng = np.random.default_rng(seed)
    gaps = [density_mirror_gap(*block_kernel(*random_block_profile(rng, b)), None, rng) for b in (1, 2, 3, 5)]
    return {"max |rho(x) - rho(-x)|": max(gaps), "per profile": gaps, "seed": seed}


def two_atom_expectation(weight: float, a: float = 1.0, seed: int = 0) -> dict:
    """A = diag(+a on `weight`, -a on the rest), s = 1/2 everywhere: the density's mirror gap, and the
    Lemma A.2 gap ||M(-conj z) + M(z)^*|| at z = 0.4 + 0.3i (for weight 1/2 the density stays
    symmetric because M_1(-conj z) = -M_2(z)^*, a swap of the blocks, not Lemma A.2's identity)."""
    rng = np.random.default_rng(seed)
    kernel, weights = block_kernel(np.full((2, 2), 0.5), [weight, 1 - weight])
    a_diag = np.array([a, -a])
    z = 0.4 + 0.3j
    m, m_mirror = solve_vector_dyson(z, kernel, a_diag).m, solve_vector_dyson(-np.conj(z), kernel, a_diag).m
    return {"density mirror gap": density_mirror_gap(kernel, weights, a_diag, rng),
            "Lemma A.2 gap": float(np.abs(m_mirror + m.conj()).max()),
            "block-swapped gap": float(np.abs(m_mirror + m[::-1].conj()).max()), "weight": weight, "a": a, "seed": seed}


# -- support bound (Alt–Erdős–Krüger 2018, Prop. 2.1) ------------------------------------------------

SUPPORT_CASES = [  # (block variances, fractions, a): A = diag(a) block-constant
    (np.array([[1.0]]), [1.0], [0.0]),                                    # semicircle: tight
    (np.array([[0.1, 0.1], [0.1, 10.0]]), [0.9, 0.1], [0.0, 0.0]),         # strongly inhomogeneous
    (np.array([[1.0, 0.3, 2.0], [0.3, 0.5, 1.0], [2.0, 1.0, 0.2]]), [0.5, 0.3, 0.2], [-3.0, 0.0, 3.0]),
    (np.array([[0.2, 1.5], [1.5, 0.4]]), [0.4, 0.6], [2.0, -1.0]),
]

INHOMOGENEOUS_SUPPORT_CASES = SUPPORT_CASES[1:2]  # where the mean row sum and ||S|| differ most


def support_leak(kernel, weights, a, norm) -> float:
    """max rho(x) over grid points farther than 2 sqrt(norm) (+ a grid step) from every a_i."""
    x = np.linspace(-7, 7, 1751)
    rho = density(x, kernel, a, weights)
    far = np.min(np.abs(x[:, None] - np.asarray(a)[None, :]), axis=1) > 2 * np.sqrt(norm) + x[1] - x[0]
    return float(rho[far].max()) if far.any() else 0.0


def support_bound(norm: Callable = self_energy_norm, cases=SUPPORT_CASES) -> dict:
    """Largest density outside Spec A + [-2 ||S||^½, 2 ||S||^½] over `cases` (norm: the ||S|| used),
    and the semicircle's mass within 0.1 of its bound edge (the bound is attained)."""
    leaks = []
    for s, f, a in cases:
        kernel, weights = block_kernel(s, f)
        leaks.append(support_leak(kernel, weights, a, norm(kernel, weights)))
    x = np.linspace(1.9, 2.0, 101)
    return {"max density outside the bound": max(leaks), "per case": leaks,
            "semicircle mass in [1.9, 2]": float(np.trapezoid(density(x, np.ones((1, 1))), x))}


def row_sum_norm(kernel, weights) -> float:
    """||S|| = ||S[1]|| = max row sum of K (Russo–Dye: S is positivity preserving)."""
    return self_energy_norm(kernel)


def mean_row_sum(kernel, weights) -> float:
    """Control: the normalized trace of S[1] (mean row sum), which is not the norm of S."""
    return float(weights @ kernel.sum(axis=1))


# -- Theorem A.1: sampled spectra against the MDE distribution --------------------------------------

KRONECKER_GENERATORS = np.array([  # B_k of H = sum_k X_k/sqrt(m) ⊗ B_k (correlated entries)
    [[0.8, 0.3, 0.0], [0.3, -0.2, 0.5], [0.0, 0.5, 0.4]],
    [[0.1, -0.4, 0.6], [-0.4, 0.7, 0.0], [0.6, 0.0, -0.3]],
    [[-0.5, 0.0, 0.2], [0.0, 0.3, -0.6], [0.2, -0.6, 0.6]],
])


def _block_case(s, f):
    kernel, weights = block_kernel(s, f)
    edge = 2 * np.sqrt(self_energy_norm(kernel)) + 0.1
    x = np.linspace(-edge, edge, 4001)
    return cumulative_distribution(x, density(x, kernel, None, weights))


def _kronecker_cdf(generators):
    """CDF of H = sum_k X_k/sqrt(m) ⊗ B_k: the n x n MDE with S[r] = sum_k B_k r B_k, rho = tr Im M / (n pi)."""
    n = generators.shape[1]
    self_energy = kraus_operator(np.sqrt(n) * generators)
    edge = 2 * np.sqrt(np.linalg.norm(sum(b @ b for b in generators), 2)) + 0.1
    x = np.linspace(-edge, edge, 1201)
    sol = solve_matrix_dyson(x + 1e-10j, self_energy, n=n)
    sol.raise_if_not_converged(x + 1e-10j)
    return cumulative_distribution(x, np.einsum("xii->x", sol.m).imag / (n * np.pi))


SAMPLED_CASES = ("wigner", "profile", "correlated")
PROFILE = SUPPORT_CASES[2][:2]


def sampler(name: str) -> Callable:
    """(N, rng) -> eigenvalues of one sampled matrix of case `name`."""
    if name == "correlated":
        n = KRONECKER_GENERATORS.shape[1]
        return lambda size, rng: symmetric_eigenvalues(sample_kronecker_matrix(KRONECKER_GENERATORS, size // n, rng))
    s, f = {"wigner": (np.ones((1, 1)), [1.0]), "profile": PROFILE}[name]
    return lambda size, rng: symmetric_eigenvalues(sample_block_profile_matrix(s, f, size, rng))


def mde_cdf(name: str):
    """The MDE distribution of case `name` (its limiting eigenvalue CDF)."""
    if name == "correlated":
        return _kronecker_cdf(KRONECKER_GENERATORS)
    return _block_case(*{"wigner": (np.ones((1, 1)), [1.0]), "profile": PROFILE}[name])


WRONG_MDE = {  # what each control's candidate distribution takes away
    "wigner": "the right variance: the semicircle of variance 1.05",
    "profile": "the variance profile: the semicircle of the same mean variance",
    "correlated": "the correlations: independent entries with the same variances (s_ab = n sum_k B_k[a, b]^2)",
}


def wrong_mde_cdf(name: str):
    """Control: the MDE of an S without the mechanism of case `name` (WRONG_MDE)."""
    if name == "wigner":
        return _block_case(np.array([[1.05]]), [1.0])
    if name == "profile":
        s, f = PROFILE
        return _block_case(np.array([[np.asarray(f) @ s @ np.asarray(f)]]), [1.0])
    n = KRONECKER_GENERATORS.shape[1]
    return _block_case(n * (KRONECKER_GENERATORS**2).sum(axis=0), np.full(n, 1 / n))


SAMPLED_SIZES = (100, 300, 900)  # three N a factor 3 apart; 900 keeps eigvalsh under a second
SAMPLES_PER_SIZE = 4             # two independent pairs per N for the sampling yardstick
PLANTED_VARIANCE_ERRORS = (0.01, 0.02, 0.03, 0.05, 0.1)


def sampled_spectra_distances(name: str, seed: int, cdf=None, sizes=SAMPLED_SIZES,
                              samples: int = SAMPLES_PER_SIZE) -> dict:
    """Per N: mean Kolmogorov distance of `samples` sampled spectra to `cdf` (default the MDE CDF),
    mean distance between independent pairs of samples (the sampling-fluctuation yardstick), their
    ratio, and the ratio for candidates whose variance is off by each planted relative error delta
    (F_delta(t) = F(t / sqrt(1 + delta)): scaling S scales the spectrum by its square root); and the
    log-log slope of the distance in N."""
    rng = np.random.default_rng(seed)
    cdf = mde_cdf(name) if cdf is None else cdf
    sample = sampler(name)
    rows = {}
    for size in sizes:
        eigs = [sample(size, rng) for _ in range(samples)]
        to_cdf = float(np.mean([kolmogorov_distance(e, cdf) for e in eigs]))
        pairs = float(np.mean([empirical_kolmogorov_distance(eigs[i], eigs[i + 1]) for i in range(0, samples - 1, 2)]))
        planted = {delta: float(np.mean([kolmogorov_distance(e / np.sqrt(1 + delta), cdf) for e in eigs])) / pairs
                   for delta in PLANTED_VARIANCE_ERRORS}
        rows[size] = {"distance": to_cdf, "between samples": pairs, "ratio": to_cdf / pairs,
                      "planted ratio": planted, "N distance / log N": to_cdf * size / np.log(size)}
    slope = np.polyfit(np.log(sizes), np.log([rows[s]["distance"] for s in sizes]), 1)[0]
    return {"by N": rows, "log-log slope": float(slope), "seed": seed, "samples per N": samples}


def smallest_rejected_error(planted_ratios: dict, limit: float) -> float:
    """Smallest planted variance error delta from which every larger planted error is rejected
    (ratio > limit); inf if the largest is not."""
    detectable = float("inf")
    for delta in sorted(planted_ratios, reverse=True):
        if planted_ratios[delta] <= limit:
            break
        detectable = delta
    return detectable
