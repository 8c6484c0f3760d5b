"""LI19 Appendix A: the Matrix Dyson Equation (Lemma A.2, Theorem A.2, support bound, Theorem A.1).

Pipelines live in losslab.experiments.li19.dyson; the tests assert the TOML criteria.
"""

import pytest

from losslab.experiments.li19 import dyson
from losslab.seeds import claim_seed

# -- Lemma A.2: M(-conj z) = -M(z)^* for A = 0 -------------------------------------------------


def lemma_a2_holds(sweep, claim) -> bool:
    """The LA2 check: both solves solve the MDE and the mirror identity holds."""
    return (sweep["max residual"] <= claim.threshold("residual_tolerance")
            and sweep["max gap"] <= claim.threshold("mirror_gap_tolerance"))


@pytest.mark.claim("LI19-LA2")
def test_lemma_a2_mirror_symmetry_of_mde_solution(evidence, claim):
    seed = claim_seed("LI19-LA2", 0)
    sweep = dyson.lemma_a2_sweep(seed)
    evidence.headline("max ||M(-conj z) + M(z)^*||_op over S", sweep["max gap"])
    evidence.record(measured=sweep, seeds=[seed], dtype="complex128", device="cpu",
                    criterion="residual <= residual_tolerance at z and -conj z; gap <= mirror_gap_tolerance")
    assert sweep["min start distance"] >= claim.threshold("start_distance_min")
    assert lemma_a2_holds(sweep, claim), sweep


@pytest.mark.claim("LI19-LA2", control=True)
@pytest.mark.parametrize("broken", ["ignores S", "is capped at 20 steps"])
def test_lemma_a2_check_rejects_a_solver_that_does_not_solve(evidence, claim, broken):
    solver = {"ignores S": dyson.solver_ignoring_self_energy, "is capped at 20 steps": dyson.capped_solver()}[broken]
    seed = claim_seed("LI19-LA2", 0)
    sweep = dyson.lemma_a2_sweep(seed, solver=solver)
    evidence.record(removes=f"solving the MDE: a solver that {broken}", measured=sweep, seeds=[seed])
    evidence.headline("max MDE residual of the broken solver", sweep["max residual"])
    assert not lemma_a2_holds(sweep, claim), sweep


# -- Theorem A.2: symmetric density; balanced vs unbalanced A ---------------------------------------


@pytest.mark.claim("LI19-TA2", parts=["symmetry"])
def test_theorem_a2_density_symmetric_for_zero_expectation(evidence, claim):
    seed = claim_seed("LI19-TA2", 0)
    result = dyson.symmetry_zero_expectation(seed)
    evidence.headline("max |rho(x) - rho(-x)|, A = 0", result["max |rho(x) - rho(-x)|"])
    evidence.record(measured=result, seeds=[seed], dtype="float64", device="cpu",
                    criterion="max_x |rho(x) - rho(-x)| <= density_tolerance over 4 random block profiles")
    assert result["max |rho(x) - rho(-x)|"] <= claim.threshold("density_tolerance")


@pytest.mark.claim("LI19-TA2", parts=["symmetry"], control=True)
def test_symmetry_check_rejects_unbalanced_expectation(evidence, claim):
    seed = claim_seed("LI19-TA2", 1)
    result = dyson.two_atom_expectation(weight=0.3, seed=seed)
    evidence.record(removes="A = 0: A = diag(+1 on 30 %, -1 on 70 %)", measured=result, seeds=[seed])
    evidence.headline("max |rho(x) - rho(-x)|, unbalanced A", result["density mirror gap"])
    assert result["density mirror gap"] > claim.threshold("density_tolerance")


@pytest.mark.claim("LI19-TA2", parts=["balanced"])
def test_balanced_expectation_keeps_density_symmetric_but_breaks_lemma_a2(evidence, claim):
    """A = diag(+1, -1), equal weights: M_1(-conj z) = -M_2(z)^* (the blocks swap), so rho is
    symmetric while M(-conj z) = -M(z)^* fails: symmetry of rho does not need Lemma A.2's identity."""
    seed = claim_seed("LI19-TA2", 3)
    result = dyson.two_atom_expectation(weight=0.5, seed=seed)
    evidence.headline("max |rho(x) - rho(-x)|, balanced A", result["density mirror gap"])
    evidence.record(measured=result, seeds=[seed], dtype="float64", device="cpu")
    assert result["density mirror gap"] <= claim.threshold("density_tolerance")
    assert result["block-swapped gap"] <= claim.threshold("mirror_gap_tolerance")
    assert result["Lemma A.2 gap"] > claim.threshold("mirror_gap_tolerance")


# -- support bound (remark after Thm 4.1) ---------------------------------------------------------


@pytest.mark.claim("LI19-TA2", parts=["support"])
def test_support_within_spec_a_plus_twice_root_norm_of_s(evidence, claim):
    """supp rho ⊂ Spec A + [-2 ||S||^½, 2 ||S||^½] (Alt–Erdős–Krüger 2018, Prop. 2.1), ||S|| = max row
    sum of s_ij f_j; the semicircle attains the bound (positive mass next to the edge 2)."""
    result = dyson.support_bound(dyson.row_sum_norm)
    evidence.headline("max density outside the bound", result["max density outside the bound"])
    evidence.record(measured=result, dtype="float64", device="cpu")
    assert result["max density outside the bound"] <= claim.threshold("density_tolerance")
    assert result["semicircle mass in [1.9, 2]"] > 0


@pytest.mark.claim("LI19-TA2", parts=["support"], control=True)
def test_support_check_rejects_the_average_row_sum_norm(evidence, claim):
    result = dyson.support_bound(dyson.mean_row_sum, cases=dyson.INHOMOGENEOUS_SUPPORT_CASES)
    evidence.record(removes="the norm of S: the mean row sum (normalized trace of S[1]) instead", measured=result)
    evidence.headline("max density outside 2 sqrt(mean row sum)", result["max density outside the bound"])
    assert result["max density outside the bound"] > claim.threshold("density_tolerance")


# -- Theorem A.1: sampled spectra approach the MDE distribution ------------------------------------


def matches_mde(result, claim) -> bool:
    """Distance shrinking at every N, log-log slope at the rigidity rate, within sampling fluctuation."""
    rows = list(result["by N"].values())
    shrinking = all(b["distance"] < a["distance"] for a, b in zip(rows, rows[1:]))
    within = all(r["ratio"] <= claim.threshold("max_fluctuation_ratio") for r in rows)
    return shrinking and within and result["log-log slope"] <= claim.threshold("max_log_log_slope")


@pytest.mark.claim("LI19-TA2", parts=["sampled.{case}"])
@pytest.mark.parametrize("case", dyson.SAMPLED_CASES)
def test_sampled_spectra_match_mde_distribution(evidence, claim, case):
    seed = claim_seed("LI19-TA2", 10 + dyson.SAMPLED_CASES.index(case))
    result = dyson.sampled_spectra_distances(case, seed)
    largest = list(result["by N"].values())[-1]
    detectable = dyson.smallest_rejected_error(largest["planted ratio"], claim.threshold("max_fluctuation_ratio"))
    evidence.headline("Kolmogorov distance / sample-to-sample distance at the largest N", largest["ratio"])
    evidence.power(detectable=detectable, needed=claim.threshold("variance_error_to_detect"),
                   method="planted relative variance errors 1-10 % at the largest N: smallest from which all are "
                          "rejected (ratio > max_fluctuation_ratio)")
    evidence.record(measured=result, seeds=[seed], dtype="float64", device="cpu",
                    reduced="N <= 900, 4 samples per N")
    assert detectable <= claim.threshold("variance_error_to_detect"), largest["planted ratio"]
    assert matches_mde(result, claim), result


@pytest.mark.claim("LI19-TA2", parts=["sampled.{case}"], control=True)
@pytest.mark.parametrize("case", dyson.SAMPLED_CASES)
def test_sampled_check_rejects_the_mde_without_the_mechanism(evidence, claim, case):
    seed = claim_seed("LI19-TA2", 10 + dyson.SAMPLED_CASES.index(case))
    result = dyson.sampled_spectra_distances(case, seed, cdf=dyson.wrong_mde_cdf(case))
    evidence.record(removes=dyson.WRONG_MDE[case], measured=result, seeds=[seed])
    evidence.headline("distance ratio at the largest N, wrong S", list(result["by N"].values())[-1]["ratio"])
    assert not matches_mde(result, claim), result
