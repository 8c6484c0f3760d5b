"""LI19 Appendix A: the Matrix Dyson Equation with A = 0 (Lemma A.2, Theorem A.2, support bound).

MDE (eq. (18)): -M^{-1} = z - A + S[M], Im M > 0, Im z > 0; S[R] = (1/N) E[W R W].
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losslab.probes.mde import (
    block_kernel, cumulative_distribution, density, kraus_operator, self_energy_norm,
    solve_matrix_dyson, variance_profile_operator,
)
from losslab.probes.sampled_spectra import kolmogorov_distance, sample_block_profile_matrix, symmetric_eigenvalues
from losslab.seeds import claim_seed

# -- Lemma A.2: M(-conj z) = -M(z)^* for A = 0 -------------------------------------------------


def random_self_energy(kind, n, rng):
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


def random_upper_half_plane_matrix(n, rng):
    """A start point with Im M > 0 far from the solution: X + i (Y Y^T + 1/2)."""
    x = rng.standard_normal((n, n))
    y = rng.standard_normal((n, n))
    return (x + x.T) + 1j * (y @ y.T + 0.5 * np.eye(n))


def mirror_gap(n, self_energy, a, z, rng):
    """(||M(-conj z) + M(z)^*||, distance of the second start point from -M(z)^*)."""
    m = solve_matrix_dyson(z, self_energy, a)  # started at i·1
    start = random_upper_half_plane_matrix(n, rng)
    m_mirror = solve_matrix_dyson(-np.conj(z), self_energy, a, m0=start)
    return (np.linalg.norm(m_mirror + m.conj().T, 2), np.linalg.norm(start + m.conj().T, 2))


LA2_RESULTS = []


@pytest.mark.claim("LI19-LA2")
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # evidence accumulates
@given(kind=st.sampled_from(["profile", "blocks", "kraus"]), n=st.integers(2, 6),
       x=st.floats(-3, 3), eta=st.floats(0.1, 1.0), seed=st.integers(0, 2**16))
def test_lemma_a2_mirror_symmetry_of_mde_solution(evidence, kind, n, x, eta, seed):
    rng = np.random.default_rng(seed)
    self_energy = random_self_energy(kind, n, rng)
    gap, start_distance = mirror_gap(n, self_energy, np.zeros((n, n)), x + 1j * eta, rng)
    LA2_RESULTS.append((gap, start_distance))
    evidence.record(
        measured={"max ||M(-conj z) + M(z)^*||_op": max(g for g, _ in LA2_RESULTS),
                  "min start distance from -M(z)^*": min(d for _, d in LA2_RESULTS),
                  "examples": len(LA2_RESULTS)},
        criterion="||M(-conj z) + M(z)^*||_op <= 1e-8 over hypothesis-drawn S (variance profiles, "
                  "block profiles, correlated Kraus maps), n in 2..6, Re z in [-3, 3], "
                  "Im z in [0.1, 1], second solve started from a random Im M > 0 point",
        seeds=[seed], dtype="complex128", device="cpu",
        note="solver: HRS averaged iteration with eta continuation (losslab.probes.mde)")
    assert start_distance > 0.1, "the second solve must not start at the answer"
    assert gap <= 1e-8, f"{kind} n={n} z={x}+{eta}i: gap {gap:.3g}"


@pytest.mark.claim("LI19-LA2", control=True)
def test_lemma_a2_check_rejects_nonzero_expectation(evidence):
    """A != 0 breaks M(-conj z) = -M(z)^* (the correct relation is then M_A(-conj z) = -M_{-A}(z)^*)."""
    rng = np.random.default_rng(claim_seed("LI19-LA2", 1))
    gaps, corrected = [], []
    for kind in ("profile", "blocks", "kraus"):
        n = 4
        self_energy = random_self_energy(kind, n, rng)
        a = np.diag(rng.uniform(0.5, 1.5, n))
        z = 0.4 + 0.3j
        gaps.append(mirror_gap(n, self_energy, a, z, rng)[0])
        m_minus_a = solve_matrix_dyson(z, self_energy, -a)
        m_mirror = solve_matrix_dyson(-np.conj(z), self_energy, a)
        corrected.append(np.linalg.norm(m_mirror + m_minus_a.conj().T, 2))
    evidence.record(measured={"gap with A != 0 (min)": min(gaps),
                              "gap of the corrected relation with -A (max)": max(corrected)},
                    criterion="the LA2 check (gap <= 1e-8) rejects every A != 0 case",
                    seeds=[claim_seed("LI19-LA2", 1)], dtype="complex128", device="cpu")
    assert min(gaps) > 1e-3, gaps
    assert max(corrected) <= 1e-8, corrected


# -- Theorem A.2: symmetric density for A = 0; support bound (remark after Thm 4.1) ------------

GRID = np.linspace(0.001, 4, 2000)  # positive half; the mirrored half is solved separately


def density_and_mirror(kernel, weights, a=None, rng=None):
    """rho(x) and rho(-x) on GRID; the -x solves start from a random point with Im m > 0 and take a
    different continuation path (eta from 3 by factors 3 instead of from 4 by factors 4), so that
    they are not the bitwise mirror image of the +x solves."""
    n = kernel.shape[0]
    rho = density(GRID, kernel, a, weights)
    start = rng.uniform(-2, 2, n) + 1j * rng.uniform(0.2, 3, n)
    rho_mirror = density(-GRID, kernel, a, weights, m0=start, eta_start=3.0, eta_factor=3.0)
    return rho, rho_mirror


def random_block_profile(rng, blocks):
    s = rng.uniform(0, 3, (blocks, blocks))
    return (s + s.T) / 2, rng.dirichlet(np.ones(blocks))


@pytest.mark.claim("LI19-TA2")
def test_theorem_a2_density_symmetric_for_zero_expectation(evidence):
    seed = claim_seed("LI19-TA2", 0)
    rng = np.random.default_rng(seed)
    gaps, peaks = [], []
    for blocks in (1, 2, 3, 5):
        kernel, weights = block_kernel(*random_block_profile(rng, blocks))
        rho, rho_mirror = density_and_mirror(kernel, weights, rng=rng)
        gaps.append(np.abs(rho - rho_mirror).max())
        peaks.append(rho.max())
    evidence.record(measured={"max |rho(x) - rho(-x)|": max(gaps), "min peak density": min(peaks)},
                    criterion="A = 0: max_x |rho(x) - rho(-x)| <= 1e-6 (x in [0.001, 4], eta = 1e-10), "
                              "4 random block variance profiles with 1..5 blocks, mirrored solves "
                              "started from random points",
                    seeds=[seed], dtype="float64", device="cpu")
    assert max(gaps) <= 1e-6, gaps


@pytest.mark.claim("LI19-TA2", control=True)
def test_theorem_a2_check_rejects_unequal_weight_expectation(evidence):
    """A = diag(+1 on 30 %, -1 on 70 %): the density is visibly asymmetric."""
    seed = claim_seed("LI19-TA2", 1)
    rng = np.random.default_rng(seed)
    kernel, weights = block_kernel(np.full((2, 2), 0.5), [0.3, 0.7])
    rho, rho_mirror = density_and_mirror(kernel, weights, a=np.array([1.0, -1.0]), rng=rng)
    gap = np.abs(rho - rho_mirror).max()
    evidence.record(measured={"max |rho(x) - rho(-x)|": gap}, seeds=[seed], dtype="float64",
                    criterion="the symmetry check (<= 1e-6) rejects A != 0 with unequal weights")
    assert gap > 1e-2, gap


def support_leak(kernel, weights, a, norm):
    """max rho(x) over grid points farther than 2 sqrt(norm) (+ a grid step) from every a_i."""
    x = np.linspace(-7, 7, 3501)
    rho = density(x, kernel, a, weights)
    far = np.min(np.abs(x[:, None] - np.asarray(a)[None, :]), axis=1) > 2 * np.sqrt(norm) + 0.004
    return float(rho[far].max()) if far.any() else 0.0


SUPPORT_CASES = [  # (block variances, fractions, a): A = diag(a) block-constant
    (np.array([[1.0]]), [1.0], [0.0]),                                    # semicircle: tight
    (np.array([[0.1, 0.1], [0.1, 10.0]]), [0.9, 0.1], [0.0, 0.0]),         # strongly inhomogeneous
    (np.array([[1.0, 0.3, 2.0], [0.3, 0.5, 1.0], [2.0, 1.0, 0.2]]), [0.5, 0.3, 0.2], [-3.0, 0.0, 3.0]),
    (np.array([[0.2, 1.5], [1.5, 0.4]]), [0.4, 0.6], [2.0, -1.0]),
]


@pytest.mark.claim("LI19-TA2")
def test_support_within_spec_a_plus_twice_root_norm_of_s(evidence):
    """supp rho ⊂ Spec A + [-2 ||S||^½, 2 ||S||^½] (Alt–Erdős–Krüger 2018, Prop. 2.1), with ||S|| the
    norm of S on matrices with the operator norm; for a variance profile ||S|| = ||S[1]|| =
    max_i sum_j s_ij f_j (the infinity -> infinity norm of the kernel)."""
    leaks, edge_mass = [], []
    for s, f, a in SUPPORT_CASES:
        kernel, weights = block_kernel(s, f)
        leaks.append(support_leak(kernel, weights, a, self_energy_norm(kernel)))
    # the bound is attained by the semicircle: mass within 0.05 of the bound edge 2 is positive
    x = np.linspace(1.9, 2.0, 101)
    edge_mass.append(float(np.trapezoid(density(x, np.ones((1, 1))), x)))
    evidence.record(measured={"max density outside the bound": max(leaks),
                              "semicircle mass in [1.9, 2]": edge_mass[0]},
                    criterion="rho(x) <= 1e-8 (eta = 1e-10) wherever dist(x, Spec A) > "
                              "2 ||S||^½ (||S|| = max row sum of s_ij f_j)",
                    dtype="float64", device="cpu")
    assert max(leaks) <= 1e-8, leaks
    assert edge_mass[0] > 1e-3


@pytest.mark.claim("LI19-TA2", control=True)
def test_support_check_rejects_the_average_row_sum_norm(evidence):
    """With the mean row sum (normalized trace of S[1]) in place of ||S||, the density leaks out."""
    s, f, a = SUPPORT_CASES[1]
    kernel, weights = block_kernel(s, f)
    wrong_norm = float(weights @ kernel.sum(axis=1))
    leak = support_leak(kernel, weights, a, wrong_norm)
    evidence.record(measured={"density outside 2 sqrt(mean row sum)": leak,
                              "mean row sum": wrong_norm, "||S||": self_energy_norm(kernel)},
                    criterion="the support check (leak <= 1e-8) rejects the wrong norm",
                    dtype="float64", device="cpu")
    assert leak > 1e-3, leak


# -- Theorem A.1(c): sampled spectra approach the MDE density ----------------------------------


@pytest.mark.claim("LI19-TA2")
def test_sampled_spectra_match_mde_density_with_error_shrinking_in_n(evidence):
    """Kolmogorov distance of the eigenvalue CDF to the MDE CDF <= C log(N) / N, C = 1.5 (stated;
    fitted c ~ 0.5 at N = 50..800). Eigenvalues are rigid, not independent: no KS p-values."""
    seed = claim_seed("LI19-TA2", 2)
    rng = np.random.default_rng(seed)
    cases = {"Wigner (semicircle)": (np.array([[1.0]]), [1.0]),
             "2-block profile, A = 0": SUPPORT_CASES[1][:2]}
    x = np.linspace(-5, 5, 4001)
    measured, ok = {}, True
    for name, (s, f) in cases.items():
        kernel, weights = block_kernel(s, f)
        cdf = cumulative_distribution(x, density(x, kernel, None, weights))
        for n in (100, 400):
            d = np.mean([kolmogorov_distance(symmetric_eigenvalues(sample_block_profile_matrix(s, f, n, rng)),
                                             x, cdf) for _ in range(400 // n)])
            measured[f"{name}, N={n}: distance"] = d
            measured[f"{name}, N={n}: N*distance/log N"] = d * n / np.log(n)
            ok &= d <= 1.5 * np.log(n) / n
    evidence.record(measured=measured, seeds=[seed], dtype="float64", device="cpu",
                    criterion="mean Kolmogorov distance <= 1.5 log(N)/N at N = 100 (4 runs), 400 (1 run)")
    assert ok, measured
