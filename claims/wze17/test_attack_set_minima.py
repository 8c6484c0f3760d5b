"""WZE17 Sec. 5 (ATK, FIG2, FIG3): attack-set minima of mLeNet on 512 MNIST images and their Hessians.

Setting (paper Sec. 5.1-5.3): mLeNet (3,781 parameters), the first 512 MNIST training images, the next
`size` images as attack set with wrong labels, objective R_train + λ R_attack (Eq. 12), init N(0, 2/fan_in).
Solutions: the sweep recipes `wze17-mlenet-mnist512-attack-<size>-<λ>` (fixtures/recipes.py, Adam) and, as
the optimizer-found (no attack) solutions, `...-attack-0-0` (same optimizer, λ = 0) over NO_ATTACK_RUNS seeds.
Curvature of R_train at the fitted ones: losslab.experiments.wze17.curvature (exact float64 spectrum at
gpu/paper, one float32 Lanczos run at cpu; Eq. 14 for ResNet-32). Checks: losslab.experiments.wze17.attack_minima.
Fig. 3 is read at matched training loss (partial rank correlation controlling for it), and Fig. 2's
"bad solutions are sharper" and Fig. 3 count only when the sweep produced a bad solution.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fixtures.recipes import (WZE17_ATTACK_SWEEP, WZE17_RESNET_ATTACK_SWEEP, WZE17_SVHN_ATTACK_SWEEP, at_scale,
                              wze17_attack_recipe_name, wze17_resnet_attack_recipe_name,
                              wze17_svhn_attack_recipe_name)
from losslab.data import subset
from losslab.experiments.wze17 import attack_minima as am
from losslab.experiments.wze17.attack_sweep import recorded_sweep, sweep_summary
from losslab.experiments.wze17.curvature import (FD_PROBES, LANCZOS_STEPS, TOP_K, curvature_memo,
                                                 frobenius_finite_difference, lanczos_summary, near_zero_fraction)
from losslab.probes.hessian import HessianOperator, RetainedGraphHessian, exact_hessian
from losslab.probes.lanczos import random_start
from losslab.probes.log_volume import log_volume
from losslab.report.figures import pyplot_or_none, save_figure
from losslab.seeds import claim_seed

NO_ATTACK_RECIPE = wze17_attack_recipe_name(0, 0.0)  # same optimizer and test set as the sweep
NO_ATTACK_RUNS = 3
FIG3_PANELS = {  # recipe name helper, sweep per tier, sharpness measures correlated with test accuracy
    "mnist": (wze17_attack_recipe_name, WZE17_ATTACK_SWEEP, ("V50", "frobenius")),
    "svhn-mlenet": (wze17_svhn_attack_recipe_name, WZE17_SVHN_ATTACK_SWEEP, ("V50", "frobenius")),
    "cifar10-resnet32": (wze17_resnet_attack_recipe_name, WZE17_RESNET_ATTACK_SWEEP, ("frobenius",)),
}


# ---- the solutions (trained once per session; curvature memoized on disk) ----------------------------

def _worker_order(items: list) -> list:
    """(index, item) pairs, reversed on odd xdist workers: two workers then train and measure from opposite
    ends (the trained-net cache and the curvature memo are file-locked, so nothing is computed twice)."""
    pairs = list(enumerate(items))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return pairs[::-1] if int(worker.lstrip("gw") or 0) % 2 else pairs


def panel_solutions_wanted(panel: str, tier: str) -> list[tuple[str, int, int, float]]:
    """(recipe, run, size, λ) of a Fig. 3 panel at `tier`: its sweep, then NO_ATTACK_RUNS no-attack runs
    (size 0, λ 0); [] where the panel has no recipes at that tier."""
    names, sweep, _ = FIG3_PANELS[panel]
    if tier not in sweep:
        return []
    wanted = [(names(size, lam), 0, size, lam) for size, lam in sweep[tier]]
    return wanted + [(names(0, 0.0), run, 0, 0.0) for run in range(NO_ATTACK_RUNS)]


def _solution(trained_net, name, run, size, lam):
    model, metrics = trained_net(name, run)
    final = metrics["final"]
    return {"name": name, "run": run, "seed": metrics["seed"], "size": size, "lambda": lam, "attacked": size > 0,
            "train_acc": final["train_acc"], "train_loss": final["train_loss"], "test_acc": final["test_acc"],
            "cache_key": metrics["cache_key"], "model": model}


def _solutions(panel, tier, trained_net):
    wanted = panel_solutions_wanted(panel, tier)
    if not wanted:
        pytest.skip(f"not run at this tier: the WZE17-FIG3 {panel} panel has no {tier!r}-tier recipes (SVHN is "
                    f"not available offline, ResNet-32 on 10⁴ CIFAR-10 images is too large for the CPU tier): "
                    f"run with --tier gpu")
    out = dict((i, _solution(trained_net, *w)) for i, w in _worker_order(wanted))
    return [out[i] for i in range(len(wanted))]


def _measured(panel, tier, trained_net, recipe_data_for, min_train_acc: float, evidence) -> list[dict]:
    """The panel's fitted solutions (train acc >= min_train_acc) with the curvature of R_train at each. At smoke
    scale the gate lets every solution through (1-2-epoch nets fit nothing), so the code after it runs."""
    solutions = _solutions(panel, tier, trained_net)
    train = recipe_data_for(panel_solutions_wanted(panel, tier)[-1][0])["train"]
    rows = am.fitted(solutions, at_scale(min_train_acc, 0))
    evidence.record(fitted_gate={"min train acc": min_train_acc, "solutions": len(solutions),
                                 "fitted": len(am.fitted(solutions, min_train_acc)),
                                 "best train acc": max(s["train_acc"] for s in solutions)})
    # exact float64 Hessians (gpu/paper tiers) of mLeNet cost 77 s (MNIST) / 164 s (SVHN) of CPU each: at smoke
    # scale the cpu tier's Lanczos measurement stands in (the exact branch: tests/experiments/test_wze17_curvature.py);
    # ResNet-32's Eq. (14) (~10 s of CPU per probe on 32 float64 images) takes 2 probes on 4 images
    exact, probes = at_scale(tier != "cpu", False), at_scale(FD_PROBES, 2)
    if panel == "cifar10-resnet32":
        train = at_scale(train, subset(train, 0, 4))
    out = {i: {**{k: v for k, v in s.items() if k != "model"},
               **curvature_memo(s["cache_key"], s["model"], train, exact, claim_seed("WZE17-FIG2", i),
                                panel if panel != "mnist" else "mnist-mlenet", probes)}
           for i, s in _worker_order(rows)}
    return [out[i] for i in range(len(rows))]


@pytest.fixture(scope="module")
def solutions(tier, trained_net):
    """Every MNIST sweep solution and the no-attack ones: name, size, λ, attacked, train/test acc, model."""
    return _solutions("mnist", tier, trained_net)


def _table(rows):
    keys = ("name", "run", "seed", "size", "lambda", "train_acc", "train_loss", "test_acc", "V50", "frobenius",
            "frobenius_se", "top_max_relative_residual", "most_negative")
    return [{k: r[k] for k in keys if k in r} for r in rows]


def _maybe_figure(name, draw, evidence, report_figure_dir):
    """Save a figure when matplotlib is importable; otherwise nothing (the numbers are recorded anyway)."""
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 4))
    draw(ax)
    save_figure(fig, report_figure_dir, name, evidence)
    plt.close(fig)


def _inconclusive_without_bad_solution(rows, claim, evidence) -> bool:
    """Record the worst fitted test accuracy; mark the part inconclusive when it is not below the bad bar."""
    worst, bar = min(r["test_acc"] for r in rows), claim.threshold("bad_test_acc")
    evidence.record(bad_solution={"worst fitted test acc": worst, "bad-solution bar": bar})
    if worst >= bar:
        evidence.inconclusive(f"no bad solution: the worst fitted solution tests at {worst:.2%}, not below the "
                              f"bad bar {bar:.2%} (see WZE17-ATK); a comparison among good solutions only")
        return True
    return False


# ---- ATK ----------------------------------------------------------------------------------------------

@pytest.mark.claim("WZE17-ATK", parts=["sweep"])
def test_attack_sweep_reaches_bad_solutions(evidence, claim, solutions, tier, request):
    attacked = [s for s in solutions if s["attacked"]]
    worst = am.worst_test_acc(attacked, claim.threshold("min_train_acc"))
    if tier == "cpu":
        sweep = sweep_summary(recorded_sweep(), claim.threshold("min_train_acc"))
        evidence.record(measured={"one-off CPU sweep (losslab.experiments.wze17.attack_sweep)": sweep})
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            f"not reproduced at the CPU tier: the worst >= 99%-train attacked mLeNet of the cpu recipes tests "
            f"at {worst:.2%}, not below the bad bar {claim.threshold('bad_test_acc'):.2%}; the one-off CPU sweep "
            f"(Adam and SGD+momentum, attack sets up to the rest of the training set, λ continuation to 10; "
            f"{sweep['wall seconds']} wall seconds at nice 19) reached at worst {sweep['worst fitted']}")))
    evidence.headline("worst test accuracy of a >= 99%-train attacked solution", worst,
                      paper=claim.paper_values["worst solution test %"] / 100)
    evidence.record(measured={"solutions": _table(attacked)}, seeds=sorted({s["seed"] for s in attacked}),
                    dtype="float32", reduced="cpu: attack sets of 512-2,048 images, 2,000 test images")
    assert worst < claim.threshold("bad_test_acc"), f"worst fitted attacked solution tests at {worst}"


@pytest.mark.claim("WZE17-ATK", parts=["sweep"], control=True)
def test_control_no_attack_solutions_are_not_bad(evidence, claim, solutions):
    """The same optimizer and data with λ = 0 (the attack removed) must not pass the ATK check."""
    no_attack = [s for s in solutions if not s["attacked"]]
    worst = am.worst_test_acc(no_attack, claim.threshold("min_train_acc"))
    evidence.record(removes="the attack term (λ = 0, same optimizer, data and seeds)",
                    measured={"solutions": _table(no_attack)})
    evidence.headline("worst test accuracy of a >= 99%-train solution without attack", worst)
    assert not worst < claim.threshold("bad_test_acc"), worst


# ---- FIG2 ---------------------------------------------------------------------------------------------

@pytest.fixture
def spectra(tier, trained_net, recipe_data_for, claim, evidence):
    """The fitted MNIST solutions with their curvature (memoized on disk: cheap after the first test)."""
    return _measured("mnist", tier, trained_net, recipe_data_for, claim.threshold("min_train_acc"), evidence)


@pytest.mark.claim("WZE17-FIG2", parts=["spectrum_shape"])
def test_most_eigenvalues_near_zero_and_some_negative(evidence, claim, spectra):
    window, most, se = (claim.threshold(n) for n in ("near_zero_window", "most_fraction", "standard_errors"))
    shapes = {f"{r['name']}#{r['run']}": am.spectrum_shape_check(r, window, most, se) for r in spectra}
    fractions = [near_zero_fraction(r, window) for r in spectra]
    evidence.headline("smallest near-zero fraction over the minima (lower bound at cpu)", min(fractions))
    evidence.record(measured={"near-zero fractions": fractions,
                              "near-zero standard error": spectra[0]["near_zero_se"],
                              "most negative (Rayleigh quotient at cpu)": [r["most_negative"] for r in spectra],
                              "method": spectra[0]["method"]},
                    seeds=sorted({r["seed"] for r in spectra}), dtype=spectra[0]["dtype"])
    assert all(shapes.values()), f"spectrum shape fails for {[k for k, v in shapes.items() if not v]}"


@pytest.mark.claim("WZE17-FIG2", parts=["bad_sharper"])
def test_bad_solution_has_much_larger_top_eigenvalues(evidence, claim, spectra, report_figure_dir):
    best = max(spectra, key=lambda r: r["test_acc"])
    worst = min(spectra, key=lambda r: r["test_acc"])
    ratio = worst["top"][0] / best["top"][0]
    evidence.headline("top-1 eigenvalue ratio, worst / best solution", ratio)
    evidence.record(measured={"best": _table([best])[0], "worst": _table([worst])[0],
                              "top-50 sums": [sum(best["top"]), sum(worst["top"])],
                              "top-50 max relative residual": [r.get("top_max_relative_residual", 0.0)
                                                               for r in spectra]},
                    seeds=sorted({r["seed"] for r in spectra}), dtype=spectra[0]["dtype"])
    middle = sorted(spectra, key=lambda r: r["test_acc"])[len(spectra) // 2]

    def draw(ax):
        for r in (best, middle, worst):
            ax.semilogy(range(1, TOP_K + 1), r["top"], ".-", label=f"test {100 * r['test_acc']:.1f}%")
        ax.set_xlabel("index"), ax.set_ylabel("eigenvalue"), ax.legend()

    _maybe_figure("WZE17-FIG2-top50.png", draw, evidence, report_figure_dir)
    if _inconclusive_without_bad_solution(spectra, claim, evidence):
        return
    assert am.bad_sharper_check(best["top"], worst["top"], claim.threshold("much_larger")), ratio


@pytest.mark.claim("WZE17-FIG2", parts=["bad_sharper"], control=True)
def test_control_bad_sharper_check_rejects_swapped_roles(evidence, claim, spectra):
    """The measured best and worst spectra with their roles swapped (the sharpness-accuracy link reversed)."""
    best = max(spectra, key=lambda r: r["test_acc"])
    worst = min(spectra, key=lambda r: r["test_acc"])
    much_larger = claim.threshold("much_larger")
    swapped = am.bad_sharper_check(worst["top"], best["top"], much_larger)
    evidence.record(removes="which solution is bad: the worst solution's spectrum taken as the good one")
    evidence.headline("top-1 ratio with roles swapped", best["top"][0] / worst["top"][0])
    assert not swapped


@pytest.mark.claim("WZE17-FIG2", parts=["spectrum_shape"], control=True)
def test_control_spectrum_shape_check_rejects_planted_spectra(evidence, claim):
    """Through the CPU-tier measurement: a planted spectrum without negative eigenvalues and one without a
    near-zero bulk fail; the Hessian-like one (both present) passes."""
    from losslab.probes.operators import MatrixOperator, matrix_with_spectrum

    outliers = torch.tensor([20.0, 8.0, 3.0, 1.0, 0.5]).double()
    bulk = torch.linspace(-5e-3, 5e-3, 380).double()
    spectra = {"hessian-like": torch.cat([outliers, bulk, torch.tensor([-0.2, -0.1]).double()]),
               "no negative": torch.cat([outliers, bulk.abs(), torch.tensor([0.2, 0.1]).double()]),
               "no near-zero bulk": torch.cat([outliers, torch.linspace(-0.2, 10.0, 382).double()])}
    near_zero, most, se = (claim.threshold(n) for n in ("near_zero_window", "most_fraction", "standard_errors"))
    cases = {}
    for name, lam in spectra.items():
        summary = lanczos_summary(MatrixOperator(matrix_with_spectrum(lam, seed=3).float()), LANCZOS_STEPS,
                                  seed=4, k=5)
        cases[name] = {"passes": am.spectrum_shape_check(summary, near_zero, most, se),
                       "near zero": near_zero_fraction(summary, near_zero), "most negative": summary["most_negative"]}
    evidence.record(removes="the negative eigenvalues, or the near-zero bulk, of a planted spectrum",
                    measured=cases)
    evidence.headline("near-zero fraction without the bulk", cases["no near-zero bulk"]["near zero"])
    assert cases["hessian-like"]["passes"], cases
    assert not cases["no negative"]["passes"] and not cases["no near-zero bulk"]["passes"], cases


@pytest.mark.claim("WZE17-FIG2", parts=["instrument"])
def test_lanczos_summary_float32_matches_exact(evidence, claim):
    """The CPU tier's float32 measurement against the exact float64 Hessian of a tiny fitted net."""
    seed = claim_seed("WZE17-FIG2", 100)
    model, x, y = am.tiny_fitted_convnet(seed)
    model64 = copy.deepcopy(model).double()
    exact_op = HessianOperator(model64, F.cross_entropy, (x.double(), y))
    h = exact_hessian(exact_op)
    lam = torch.linalg.eigvalsh(h)
    k, near_zero = 10, claim.threshold("near_zero_window")
    fast64 = RetainedGraphHessian(model64, F.cross_entropy, x, y)
    probe = random_start(exact_op, 0)
    product_error = float((fast64.matvec(probe) - h @ probe).abs().max() / lam.abs().max())
    summary = lanczos_summary(RetainedGraphHessian(model, F.cross_entropy, x, y), 60, seed=1, rayleigh_op=fast64,
                              k=k, probes=20)
    exact = {"top": lam.flip(0)[:k], "V": log_volume(lam, k), "frobenius": float(lam.pow(2).sum().sqrt()),
             "lambda_min": float(lam[0]), "near_zero": float((lam.abs() < near_zero * lam[-1]).double().mean())}
    top_error = float((torch.tensor(summary["top"]) - exact["top"]).abs().max() / lam[-1])
    numbers = {"dim": exact_op.dim, "HVP max error / λ_max (float64)": product_error,
               "top-10 max error / λ_max (float32)": top_error, "V(10) measured": summary["V50"],
               "V(10) exact": exact["V"], "‖H‖_F measured": summary["frobenius"],
               "‖H‖_F standard error": summary["frobenius_se"], "‖H‖_F exact": exact["frobenius"],
               "Rayleigh min": summary["most_negative"], "λ_min exact": exact["lambda_min"],
               "near-zero lower bound": near_zero_fraction(summary, near_zero), "near-zero exact": exact["near_zero"]}
    evidence.headline("top-10 Ritz error / λ_max (float32 vs exact float64)", top_error)
    evidence.record(measured=numbers, seeds=[seed], dtype="float32 vs float64")
    ritz, se = claim.threshold("ritz_tolerance"), claim.threshold("standard_errors")
    assert product_error < claim.threshold("hvp_tolerance"), numbers
    assert top_error < ritz and abs(summary["V50"] - exact["V"]) < claim.threshold("log_volume_tolerance"), numbers
    assert abs(summary["frobenius"] - exact["frobenius"]) <= (se * summary["frobenius_se"]
                                                              + ritz * exact["frobenius"]), numbers
    assert exact["lambda_min"] <= summary["most_negative"] + ritz * float(lam[-1]), numbers
    assert summary["most_negative"] < 0, numbers
    assert numbers["near-zero lower bound"] <= exact["near_zero"] + se * summary["near_zero_se"], numbers


# ---- FIG3 ---------------------------------------------------------------------------------------------

def _correlation_part(rows, measures, claim, evidence, panel):
    """Fig. 3 for one panel: record and assert the partial rank test of each measure (see the TOML)."""
    alpha, strong = claim.threshold("alpha"), claim.threshold("strong_rho")
    test, loss = [r["test_acc"] for r in rows], [r["train_loss"] for r in rows]
    results = {m: am.sharpness_correlation([r[m] for r in rows], test, loss, alpha, claim_seed("WZE17-FIG3", 1))
               for m in measures}
    first = results[measures[0]]
    evidence.headline(f"{panel}: partial Spearman ρ({measures[0]}, test accuracy | train loss)", first["rho"],
                      interval=first["interval"])
    evidence.power(detectable=-first["critical"], needed=strong,
                   method=f"the exact permutation null's {alpha:g}-quantile at n = {first['n']} solutions")
    evidence.record(measured={m: r for m, r in results.items()}, solutions=_table(rows), p_value=first["p"],
                    seeds=sorted({r["seed"] for r in rows}), dtype=rows[0]["dtype"])
    if _inconclusive_without_bad_solution(rows, claim, evidence):
        return
    for m, r in results.items():
        assert r["passes"], f"{panel} {m}: {r}"


@pytest.mark.claim("WZE17-FIG3", parts=["mnist"])
def test_accuracy_falls_with_sharpness_at_matched_train_loss(evidence, claim, spectra, report_figure_dir):
    """Fig. 3 left, read at matched training loss (the claim's headline)."""
    _maybe_figure("WZE17-FIG3-v50.png", lambda ax: (
        ax.scatter([r["V50"] for r in spectra], [100 * r["test_acc"] for r in spectra],
                   c=[np.log10(r["train_loss"]) for r in spectra]),
        ax.set_xlabel("V(50) = Σ log λ_i"), ax.set_ylabel("test accuracy (%)"),
        ax.set_title("colour: log10 train loss", fontsize=9)), evidence, report_figure_dir)
    _correlation_part(spectra, FIG3_PANELS["mnist"][2], claim, evidence, "mnist")


@pytest.mark.claim("WZE17-FIG3", parts=["mnist"], control=True)
def test_control_sharpness_from_train_loss_only_does_not_pass(evidence, claim, spectra):
    """A sharpness that depends on the training loss only (train loss × independent log-normal noise), paired
    with the measured test accuracies: the unadjusted ρ can pass, the matched-loss check must not."""
    rng = np.random.default_rng(claim_seed("WZE17-FIG3", 2))
    loss = np.array([r["train_loss"] for r in spectra])
    planted = loss * np.exp(rng.normal(size=loss.size))
    result = am.sharpness_correlation(planted, [r["test_acc"] for r in spectra], loss, claim.threshold("alpha"),
                                      claim_seed("WZE17-FIG3", 1))
    evidence.record(removes="any link of sharpness to test accuracy beyond the training loss", measured=result)
    evidence.headline("partial ρ(train-loss-only sharpness, test | train loss)", result["rho"],
                      interval=result["interval"])
    assert not result["passes"], result


@pytest.mark.claim("WZE17-FIG3", parts=["flat_end"])
def test_optimizer_found_solutions_sit_at_the_flat_end(evidence, spectra):
    no_attack = [r["V50"] for r in spectra if not r["attacked"]]
    attacked = [r["V50"] for r in spectra if r["attacked"]]
    evidence.headline("max no-attack V(50) minus median attacked V(50)", max(no_attack) - float(np.median(attacked)))
    evidence.record(measured={"no-attack V(50)": no_attack, "attacked V(50)": attacked})
    assert am.flat_end_check(no_attack, attacked)


@pytest.mark.claim("WZE17-FIG3", parts=["flat_end"], control=True)
def test_control_flat_end_check_rejects_swapped_roles(evidence, spectra):
    """The measured V(50)s with the no-attack and attacked roles swapped."""
    no_attack = [r["V50"] for r in spectra if not r["attacked"]]
    attacked = [r["V50"] for r in spectra if r["attacked"]]
    evidence.record(removes="which solutions the optimizer found: attacked ones labelled optimizer-found")
    evidence.headline("max attacked V(50) minus median no-attack V(50)", max(attacked) - float(np.median(no_attack)))
    assert not am.flat_end_check(attacked, no_attack)


@pytest.mark.claim("WZE17-FIG3", parts=["{panel}"])
@pytest.mark.parametrize("panel", ["svhn-mlenet", "cifar10-resnet32"])
def test_test_accuracy_falls_with_sharpness_svhn_and_resnet32(panel, evidence, claim, tier, trained_net,
                                                              recipe_data_for):
    """Fig. 3 middle (mLeNet on SVHN) and right (Eq. 14 ‖H‖_F, ResNet-32 on 10⁴ CIFAR-10 images)."""
    rows = _measured(panel, tier, trained_net, recipe_data_for, claim.threshold("min_train_acc"), evidence)
    _correlation_part(rows, FIG3_PANELS[panel][2], claim, evidence, panel)


@pytest.mark.claim("WZE17-FIG3", parts=["instrument"])
def test_resnet_frobenius_estimate_matches_exact_on_tiny_resnet(evidence, claim):
    """The ResNet-32 panel's measurement (Eq. 14, M=100, ε=1e-5, float64, uneven batches 5, 5, 4) on a tiny
    softplus ResNet (smooth, so Eq. 14 → ‖H‖_F): it equals the same probes' ‖Hv‖² from the exact Hessian and
    is within a few standard errors of the exact ‖H‖_F. Recorded: float32, and a ReLU net's Eq. (14)."""
    seed = claim_seed("WZE17-FIG3", 200)
    relu_model, x, y = am.tiny_resnet(seed)
    relu = frobenius_finite_difference(relu_model, x, y, seed=seed, batch=5, probes=10)
    model, x, y = am.tiny_resnet(seed, activation="softplus")
    measured = frobenius_finite_difference(model, x, y, seed=seed, batch=5, compare_hvp=False)
    measured32 = frobenius_finite_difference(model, x, y, seed=seed, batch=5, dtype=torch.float32,
                                             compare_hvp=False)
    op = HessianOperator(copy.deepcopy(model).double(), F.cross_entropy, (x.double(), y))
    h = exact_hessian(op)
    exact = float(torch.linalg.matrix_norm(h))
    same_probes = float(np.sqrt(np.mean([float((h @ random_start(op, seed + p)).pow(2).sum())
                                         for p in range(FD_PROBES)])))
    deviation = abs(measured["frobenius"] / same_probes - 1)
    numbers = {"dim": op.dim, "exact ‖H‖_F": exact, "Eq. 14 float64": measured["frobenius"],
               "standard error": measured["frobenius_se"], "same probes with exact H v": same_probes,
               "float64 relative deviation from exact-product value": deviation,
               "float32 relative deviation from exact-product value": abs(measured32["frobenius"] / same_probes - 1),
               "ReLU net: Eq. 14 (10 probes)": relu["frobenius"], "ReLU net: same probes, autograd Hv":
               relu["frobenius_hvp"]}
    evidence.headline("Eq. 14 float64 vs the same probes' exact ‖Hv‖², relative", deviation)
    evidence.record(measured=numbers, seeds=[seed], dtype="float64 (float32 recorded)")
    assert deviation < claim.threshold("same_probes_tolerance"), numbers
    assert abs(measured["frobenius"] - exact) <= claim.threshold("standard_errors") * measured["frobenius_se"], numbers
