"""WZE17 Sec. 5 (ATK, FIG2, FIG3): attack-set minima of mLeNet on 512 MNIST images and their Hessians.

Setting (paper Sec. 5.1-5.3): mLeNet (3,781 parameters), the first 512 MNIST training images, the next
`size` images as attack set with wrong labels, objective R_train + λ R_attack (Eq. 12), init N(0, 2/fan_in).
Solutions: the sweep recipes `wze17-mlenet-mnist512-attack-<size>-<λ>` (fixtures/recipes.py, Adam) and, as
the optimizer-found (no attack) solutions, `...-attack-0-0` (same optimizer, λ = 0) over NO_ATTACK_RUNS seeds.
At each solution with train accuracy >= MIN_TRAIN_ACC, the Hessian H of R_train (mean cross-entropy on the
512 training images):
- gpu/paper: the exact float64 Hessian, its spectrum, V(50) (Eq. 13, natural log) and ‖H‖_F.
- cpu: one float32 Lanczos run of LANCZOS_STEPS products from a Gaussian start. Its Ritz values give the top
  50 (lower bounds of λ_1..λ_50 by interlacing; relative residual bounds recorded) and V(50); its Gauss
  quadrature gives a Chebyshev-Markov-Stieltjes lower bound on the spectral mass in |λ| < NEAR_ZERO·λ_max;
  the smallest Ritz vector's float64 Rayleigh quotient < 0 proves a negative eigenvalue; ‖H‖_F² is the
  Lanczos-deflated Hutchinson estimate (frobenius_sq_deflated) with its standard error. Float32 against
  the exact float64 spectrum is checked on a small net below (test_lanczos_summary_float32_matches_exact).

CPU tier: the recipes fit R_train alone for 20 epochs before the attack term switches on (with the attack
from epoch 1, Adam collapsed to a constant predictor for λ >= 1); the attacked nets then reach >= 99% train
accuracy only for λ <= 0.4 (test 70-84%), not near chance: ATK xfails there with the numbers. Where the
top-50 Ritz values have not converged (attacked nets, residual bounds ~10%), V(50) is a lower bound.

Fig. 3 middle and right (gpu/paper tiers only; test_test_accuracy_falls_with_sharpness_svhn_and_resnet32, the
same checks): mLeNet (3 input channels) on the first 512 SVHN training images, sweep
`wze17-mlenet-svhn512-attack-<size>-<λ>`, exact float64 spectrum (V(50), ‖H‖_F); ResNet-32 on the first 10⁴
CIFAR-10 training images, sweep `wze17-resnet32-cifar10k-attack-<size>-<λ>`, ‖H‖_F by the corrected Eq. (14)
(M = 100, ε = 1e-5, float64, eval-mode BatchNorm), with the autograd same-probe value recorded beside it. At
the cpu tier both skip (no recipes; SVHN also skips with the fix text when its files are missing). Their
measurement runs at the cpu tier on a tiny ResNet (test_resnet_frobenius_estimate_matches_exact_on_tiny_resnet);
the recipes and the SVHN data path are tested in tests/fixtures_area/test_wze17_fig3_recipes.py. Not yet run
on a GPU.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from filelock import FileLock

from fixtures.recipes import (WZE17_ATTACK_SWEEP, WZE17_RESNET_ATTACK_SWEEP, WZE17_SVHN_ATTACK_SWEEP,
                              wze17_attack_recipe_name, wze17_resnet_attack_recipe_name,
                              wze17_svhn_attack_recipe_name)
from losslab.cache import cache_dir
from losslab.probes.frobenius import frobenius_sq_deflated, frobenius_sq_finite_difference
from losslab.probes.hessian import HessianOperator, RetainedGraphHessian, exact_hessian
from losslab.probes.lanczos import lanczos, random_start
from losslab.probes.log_volume import log_volume
from losslab.probes.spectral_density import window_mass_lower_bound
from losslab.seeds import claim_seed
from losslab.stats import spearman_interval, spearman_permutation_pvalue
from losslab.report.figures import pyplot_or_none, save_figure

MIN_TRAIN_ACC = 0.99  # "about 100% train accuracy"
# ATK: the sweep must span good to near chance
MIN_SPREAD = 0.40  # max test acc - min test acc
MAX_WORST_TEST = 0.30  # the worst solution's test accuracy (paper: 21.04%, chance 10%)
# FIG2
NEAR_ZERO = 1e-3  # |λ| < NEAR_ZERO * λ_max counts as "near zero"
MOST = 0.5  # "most eigenvalues near zero": fraction above this
MUCH_LARGER = 10.0  # "much larger" top eigenvalue: worst top-1 >= MUCH_LARGER * best top-1
TOP_K = 50
# FIG3
ALPHA = 0.05  # permutation test error rate (one-sided, ρ < 0)
PERMUTATIONS = 1000  # p resolution 0.001, well below ALPHA
NO_ATTACK_RECIPE = wze17_attack_recipe_name(0, 0.0)  # same optimizer and test set as the sweep
NO_ATTACK_RUNS = 3
# FIG3 ResNet-32 panel: Eq. (14) with the consistent 1/(4Mε²) factor, the paper's M and ε, in float64 (in
# float32 the O(ε) gradient difference cancels ~5 of float32's ~7 digits: see test_resnet_frobenius_estimate_*)
FD_PROBES = 100
FD_EPSILON = 1e-5
FD_BATCH = 500  # images per gradient batch (memory only: R is the mean over all 10,000)
# cpu-tier curvature (float32 Lanczos)
LANCZOS_STEPS = 100  # measured: top-50 relative residual bound <= 10% at 100 steps (attacked nets), 16% at 80
FRO_PROBES = 5  # Hutchinson probes on the deflated rest of ‖H‖_F²
SE_MULTIPLE = 3.0  # the near-zero lower bound must exceed MOST by this many sampling standard errors
CPU_ATK_XFAIL = ("not reproduced at the CPU tier: attacked mLeNets reach >= 99% train accuracy only for "
                 "λ <= 0.4 within the budget, with test accuracy 70-84%, not near chance (see the evidence)")


# ---- the checks (pure functions, exercised by the controls) -----------------------------------------

def attack_sweep_check(train_accs, test_accs) -> tuple[bool, dict]:
    """ATK: among solutions with train acc >= MIN_TRAIN_ACC, spread >= MIN_SPREAD and min <= MAX_WORST_TEST."""
    fitted = [t for a, t in zip(train_accs, test_accs) if a >= MIN_TRAIN_ACC]
    if len(fitted) < 2:
        return False, {"fitted solutions": len(fitted)}
    spread, worst = max(fitted) - min(fitted), min(fitted)
    return spread >= MIN_SPREAD and worst <= MAX_WORST_TEST, {
        "fitted solutions": len(fitted), "test acc spread": spread, "worst test acc": worst,
        "best test acc": max(fitted)}


def spectrum_summary(eigenvalues: torch.Tensor) -> dict:
    """Fig. 2 numbers of an exactly known spectrum: near-zero fraction, most negative λ, top-K, V(K), ‖H‖_F."""
    lam = torch.sort(eigenvalues.double(), descending=True).values
    lam_max = float(lam[0])
    return {"lambda_max": lam_max, "near_zero_fraction": float((lam.abs() < NEAR_ZERO * lam_max).double().mean()),
            "near_zero_se": 0.0, "negative": int((lam < 0).sum()), "most_negative": float(lam[-1]),
            "top": [float(v) for v in lam[:TOP_K]], "V50": log_volume(lam, TOP_K),
            "frobenius": float(torch.sqrt((lam ** 2).sum())), "frobenius_se": 0.0, "method": "exact"}


def lanczos_summary(op, steps: int, seed: int, rayleigh_op=None, k: int = TOP_K,
                    probes: int = FRO_PROBES) -> dict:
    """Fig. 2/3 numbers from one Lanczos run (the CPU tier's measurement; see the module docstring).

    near_zero_fraction: Chebyshev-Markov-Stieltjes lower bound on the start vector's spectral mass in
    |λ| < NEAR_ZERO·θ_max; near_zero_se: its sampling standard error as an estimate of the fraction of
    eigenvalues, bounded by sqrt(1/(2(n+2))) (vᵀ1(H)v/‖v‖² for v uniform on the sphere has variance
    2p(1−p)/(n+2)). most_negative: the Rayleigh quotient of the smallest Ritz vector under `rayleigh_op`
    (default `op`), which is >= λ_min: negative means H has a negative eigenvalue."""
    result = lanczos(op, min(steps, op.dim), random_start(op, seed))
    theta, s = torch.linalg.eigh(result.tridiagonal())  # ascending, float64
    residual = (result.beta_last * s[-1]).abs()
    lam_max = float(theta[-1])
    top, top_residual = theta.flip(0)[:k], residual.flip(0)[:k]
    vector = result.basis @ s[:, 0].to(result.basis.dtype)
    rayleigh_op = rayleigh_op or op
    vector = vector.to(rayleigh_op.dtype)
    most_negative = float(torch.dot(vector, rayleigh_op.matvec(vector)) / torch.dot(vector, vector))
    fro_sq = frobenius_sq_deflated(op, result, probes=probes, seed=seed + 1)
    fro = float(np.sqrt(fro_sq.value))
    return {"lambda_max": lam_max,
            "near_zero_fraction": window_mass_lower_bound(theta, s[0] ** 2, -NEAR_ZERO * lam_max,
                                                          NEAR_ZERO * lam_max),
            "near_zero_se": float(np.sqrt(1 / (2 * (op.dim + 2)))),
            "most_negative": most_negative, "smallest_ritz": float(theta[0]),
            "smallest_ritz_residual": float(residual[0]),
            "top": [float(v) for v in top], "top_max_relative_residual": float((top_residual / top.abs()).max()),
            "V50": log_volume(top, k), "frobenius": fro, "frobenius_se": fro_sq.standard_error / (2 * fro),
            "lanczos_steps": len(result.alphas), "method": "lanczos"}


def spectrum_shape_check(summary: dict) -> bool:
    """FIG2 (1)-(2): near-zero fraction > MOST by SE_MULTIPLE standard errors, and a negative eigenvalue."""
    return (summary["near_zero_fraction"] - SE_MULTIPLE * summary["near_zero_se"] > MOST
            and summary["most_negative"] < 0)


def bad_sharper_check(top_good, top_bad) -> bool:
    """FIG2 (3): the bad solution's top eigenvalue is MUCH_LARGER× the good one's, and its top-K sum larger."""
    return top_bad[0] >= MUCH_LARGER * top_good[0] and sum(top_bad) > sum(top_good)


def falls_with_sharpness_check(sharpness, test_accs) -> tuple[bool, dict]:
    """FIG3: Spearman ρ(sharpness, test acc) < 0: its 95% interval below 0 and one-sided permutation p < ALPHA."""
    rho, lo, hi = spearman_interval(sharpness, test_accs)
    p = spearman_permutation_pvalue(sharpness, test_accs, permutations=PERMUTATIONS, alternative="less")
    return hi < 0 and p < ALPHA, {"rho": rho, "interval": [lo, hi], "p": p, "n": len(test_accs)}


def flat_end_check(no_attack_v, attacked_v) -> bool:
    """FIG3: every optimizer-found solution's V(50) is below the median V(50) of the attacked ones."""
    return max(no_attack_v) < float(np.median(attacked_v))


# ---- the solutions (trained once per session; Hessians once per module) ------------------------------

def _worker_order(items: list) -> list:
    """(index, item) pairs, reversed on odd xdist workers: two workers then train and measure from opposite
    ends (the trained-net cache and the curvature memo are file-locked, so nothing is computed twice)."""
    pairs = list(enumerate(items))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return pairs[::-1] if int(worker.lstrip("gw") or 0) % 2 else pairs


@pytest.fixture(scope="module")
def solutions(tier, trained_net):
    """Every sweep solution and the no-attack ones: name, size, λ, attacked, train/test acc, model."""
    wanted = [(wze17_attack_recipe_name(size, lam), 0, size, lam) for size, lam in WZE17_ATTACK_SWEEP[tier]]
    wanted += [(NO_ATTACK_RECIPE, run, 0, 0.0) for run in range(NO_ATTACK_RUNS)]
    out = dict((i, _solution(trained_net, *w)) for i, w in _worker_order(wanted))
    return [out[i] for i in range(len(wanted))]


def _solution(trained_net, name, run, size, lam):
    model, metrics = trained_net(name, run)
    final = metrics["final"]
    return {"name": name, "run": run, "seed": metrics["seed"], "size": size, "lambda": lam, "attacked": size > 0,
            "train_acc": final["train_acc"], "train_loss": final["train_loss"], "test_acc": final["test_acc"],
            "cache_key": metrics["cache_key"], "model": model}


def _curvature(model, train, tier, seed) -> dict:
    """Spectrum summary of R_train's Hessian: exact float64 (gpu/paper) or float32 Lanczos (cpu)."""
    if tier != "cpu":
        model = model.double()
        op = HessianOperator(model, F.cross_entropy, (train.x.double(), train.y))
        eigenvalues = torch.linalg.eigvalsh(exact_hessian(op, chunk=256)).cpu()
        model.float()
        return {**spectrum_summary(eigenvalues), "dtype": "float64"}
    op = RetainedGraphHessian(model, F.cross_entropy, train.x, train.y)
    model64 = copy.deepcopy(model).double()
    rayleigh_op = RetainedGraphHessian(model64, F.cross_entropy, train.x, train.y)
    summary = lanczos_summary(op, LANCZOS_STEPS, seed, rayleigh_op=rayleigh_op)
    return {**summary, "dtype": "float32 Lanczos, float64 Rayleigh quotient"}


_MEASUREMENT_SOURCES = [Path(__file__)] + [Path(__file__).parents[2] / "losslab" / "probes" / f for f in
                                           ("hessian.py", "lanczos.py", "frobenius.py", "spectral_density.py",
                                            "log_volume.py")]


def _curvature_memo(solution, train, tier, seed, panel: str = "mnist-mlenet") -> dict:
    """The panel's curvature measurement (_panel_measure), memoized on disk per trained net, seed, panel and
    measurement source (shared by xdist workers)."""
    sources = hashlib.sha256(b"".join(p.read_bytes() for p in _MEASUREMENT_SOURCES)).hexdigest()
    key = hashlib.sha256(f"{solution['cache_key']}|{tier}|{seed}|{panel}|{sources}".encode()).hexdigest()
    path = cache_dir() / f"wze17-curvature-{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return json.loads(path.read_text())
        summary = _panel_measure(panel, solution["model"], train, tier, seed)
        path.write_text(json.dumps(summary))
        return summary


@pytest.fixture(scope="module")
def spectra(solutions, recipe_data_for, tier):
    """Spectrum summaries of R_train's Hessian (512 training images) at the fitted solutions."""
    train = recipe_data_for(NO_ATTACK_RECIPE)["train"]
    fitted = [s for s in solutions if s["train_acc"] >= MIN_TRAIN_ACC]
    out = {i: {**{k: v for k, v in s.items() if k != "model"},
               **_curvature_memo(s, train, tier, claim_seed("WZE17-FIG2", i))} for i, s in _worker_order(fitted)}
    if len(out) < 4:
        pytest.fail(f"only {len(out)} solutions reached train accuracy >= {MIN_TRAIN_ACC}")
    return [out[i] for i in range(len(fitted))]


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


# ---- ATK ----------------------------------------------------------------------------------------------

@pytest.mark.claim("WZE17-ATK")
def test_attack_sweep_spans_good_to_chance(evidence, solutions, tier, request):
    if tier == "cpu":
        request.applymarker(pytest.mark.xfail(strict=True, reason=CPU_ATK_XFAIL))
    attacked = [s for s in solutions if s["attacked"]]
    ok, numbers = attack_sweep_check([s["train_acc"] for s in attacked], [s["test_acc"] for s in attacked])
    evidence.record(measured={**numbers, "solutions": _table(attacked)},
                    criterion=f"train acc >= {MIN_TRAIN_ACC}: max-min test >= {MIN_SPREAD}, min test <= "
                              f"{MAX_WORST_TEST}", seeds=sorted({s["seed"] for s in attacked}), dtype="float32")
    assert ok, f"attack sweep does not span good to chance: {numbers}"


@pytest.mark.claim("WZE17-ATK", control=True)
def test_attack_sweep_check_rejects_no_spread(evidence, tier, trained_net):
    """Solutions that all generalize (planted, and the measured no-attack seeds) are rejected."""
    planted_ok, planted = attack_sweep_check([1.0] * 5, [0.86, 0.88, 0.90, 0.87, 0.89])
    measured = {"planted": planted}
    runs = [_solution(trained_net, NO_ATTACK_RECIPE, r, 0, 0.0) for r in range(NO_ATTACK_RUNS)]
    real_ok, measured["no attack"] = attack_sweep_check([s["train_acc"] for s in runs],
                                                         [s["test_acc"] for s in runs])
    evidence.record(measured=measured, criterion="the ATK check rejects solution sets without attack")
    assert not planted_ok and not real_ok, measured


# ---- FIG2 ---------------------------------------------------------------------------------------------

@pytest.mark.claim("WZE17-FIG2")
def test_hessian_spectrum_flat_for_good_sharp_for_bad(evidence, spectra, report_figure_dir):
    best = max(spectra, key=lambda r: r["test_acc"])
    worst = min(spectra, key=lambda r: r["test_acc"])
    shapes = {r["name"] + f"#{r['run']}": spectrum_shape_check(r) for r in spectra}
    sharper = bad_sharper_check(best["top"], worst["top"])
    keys = ("name", "run", "test_acc", "train_acc", "lambda_max", "near_zero_fraction", "most_negative", "top")
    evidence.record(
        measured={"best": {k: best[k] for k in keys}, "worst": {k: worst[k] for k in keys},
                  "top-1 ratio worst/best": worst["top"][0] / best["top"][0],
                  "top-50 sums": [sum(best["top"]), sum(worst["top"])],
                  "near-zero fractions (lower bounds at cpu)": [r["near_zero_fraction"] for r in spectra],
                  "near-zero standard error": spectra[0]["near_zero_se"],
                  "most negative (Rayleigh quotient at cpu)": [r["most_negative"] for r in spectra],
                  "top-50 max relative residual": [r.get("top_max_relative_residual", 0.0) for r in spectra],
                  "method": spectra[0]["method"]},
        criterion=f"every fitted solution: fraction of |λ| < {NEAR_ZERO}·λ_max (cpu: SLQ lower bound) minus "
                  f"{SE_MULTIPLE:g} SE > {MOST}, and a negative eigenvalue (cpu: a float64 Rayleigh quotient < 0); "
                  f"worst top-1 >= {MUCH_LARGER}× best top-1 and larger top-{TOP_K} sum",
        seeds=sorted({r["seed"] for r in spectra}), dtype=spectra[0]["dtype"])

    middle = sorted(spectra, key=lambda r: r["test_acc"])[len(spectra) // 2]

    def draw(ax):
        for r in (best, middle, worst):
            ax.semilogy(range(1, TOP_K + 1), r["top"], ".-", label=f"test {100 * r['test_acc']:.1f}%")
        ax.set_xlabel("index"), ax.set_ylabel("eigenvalue"), ax.legend()

    _maybe_figure("WZE17-FIG2-top50.png", draw, evidence, report_figure_dir)
    assert all(shapes.values()), f"spectrum shape fails for {[k for k, v in shapes.items() if not v]}"
    assert sharper, f"worst top-1 {worst['top'][0]:.3g} vs best {best['top'][0]:.3g}"


@pytest.mark.claim("WZE17-FIG2", control=True)
def test_bad_sharper_check_rejects_swapped_labels(evidence, request):
    """Planted spectra (good flat, bad 100× sharper): the check passes; planted or measured swapped, it fails."""
    good = list(np.geomspace(1e-1, 1e-4, TOP_K))
    bad = list(np.geomspace(1e1, 1e-2, TOP_K))
    cases = {"planted": bad_sharper_check(good, bad), "planted swapped": bad_sharper_check(bad, good)}
    spectra = request.getfixturevalue("spectra")
    best = max(spectra, key=lambda r: r["test_acc"])
    worst = min(spectra, key=lambda r: r["test_acc"])
    cases["measured swapped"] = bad_sharper_check(worst["top"], best["top"])
    evidence.record(measured=cases, criterion="the FIG2 check holds on the planted pair and fails swapped")
    assert cases["planted"] and not any(v for k, v in cases.items() if "swapped" in k), cases


# ---- FIG3 ---------------------------------------------------------------------------------------------

@pytest.mark.claim("WZE17-FIG3")
def test_test_accuracy_falls_with_basin_sharpness(evidence, spectra, report_figure_dir):
    test = [r["test_acc"] for r in spectra]
    ok_v, v50 = falls_with_sharpness_check([r["V50"] for r in spectra], test)
    ok_f, fro = falls_with_sharpness_check([r["frobenius"] for r in spectra], test)
    no_attack = [r["V50"] for r in spectra if not r["attacked"]]
    attacked = [r["V50"] for r in spectra if r["attacked"]]
    flat = bool(no_attack) and bool(attacked) and flat_end_check(no_attack, attacked)
    evidence.record(measured={"V(50)": v50, "||H||_F": fro, "solutions": _table(spectra),
                              "no-attack V(50)": no_attack, "attacked V(50) median": float(np.median(attacked))
                              if attacked else None},
                    criterion=f"Spearman ρ(V(50), test) and ρ(‖H‖_F, test): 95% interval below 0 and one-sided "
                              f"permutation p < {ALPHA}; max no-attack V(50) < median attacked V(50)",
                    uncertainty={"V(50)": v50["interval"], "||H||_F": fro["interval"],
                                 "||H||_F standard errors": [r["frobenius_se"] for r in spectra]},
                    seeds=sorted({r["seed"] for r in spectra}), dtype=spectra[0]["dtype"])
    _maybe_figure("WZE17-FIG3-v50.png", lambda ax: (
        ax.scatter([r["V50"] for r in spectra], [100 * t for t in test],
                   c=["tab:blue" if r["attacked"] else "tab:red" for r in spectra]),
        ax.set_xlabel("V(50) = Σ log λ_i"), ax.set_ylabel("test accuracy (%)"),
        ax.set_title("red: optimizer-found (no attack), blue: attacked", fontsize=9)), evidence, report_figure_dir)
    assert ok_v, f"V(50): {v50}"
    assert ok_f, f"||H||_F: {fro}"
    assert flat, f"no-attack V(50) {no_attack} not below the attacked median {np.median(attacked)}"


@pytest.mark.claim("WZE17-FIG3", control=True)
def test_sharpness_check_rejects_positive_and_shuffled(evidence, request):
    """Planted positive, shuffled and reversed series and the measured values re-paired rising (or with the
    no-attack and attacked roles swapped) are rejected; a planted negative one is accepted."""
    rng = np.random.default_rng(claim_seed("WZE17-FIG3", 0))
    sharp = np.linspace(-200.0, 50.0, 14)
    falling = 0.95 - 0.8 * (sharp - sharp.min()) / np.ptp(sharp) + rng.normal(0, 0.05, sharp.size)
    cases = {"planted negative": falls_with_sharpness_check(sharp, falling)[0],
             "planted positive": falls_with_sharpness_check(sharp, falling[::-1])[0],
             "planted flat end reversed": flat_end_check([40.0, 45.0], [-100.0, -50.0, 0.0])}
    cases["planted shuffled pairing"] = falls_with_sharpness_check(sharp, rng.permutation(falling))[0]
    spectra = request.getfixturevalue("spectra")
    test = [r["test_acc"] for r in spectra]
    for key in ("V50", "frobenius"):
        x = np.array([r[key] for r in spectra])
        # the measured test accuracies re-paired in sharpness order: the sharpest gets the best
        rising = np.sort(test)[np.argsort(np.argsort(x))]
        cases[f"measured {key} re-paired rising"] = falls_with_sharpness_check(x, rising)[0]
    v = [r["V50"] for r in spectra]
    cases["measured flat end swapped"] = flat_end_check([x for x, r in zip(v, spectra) if r["attacked"]],
                                                        [x for x, r in zip(v, spectra) if not r["attacked"]])
    evidence.record(measured=cases, criterion="FIG3 checks accept the planted falling series only")
    assert cases["planted negative"] and not any(v for k, v in cases.items() if k != "planted negative"), cases


# ---- FIG3 middle and right panels: mLeNet on SVHN, ResNet-32 on 10⁴ CIFAR-10 images (gpu/paper only) ----

FIG3_PANELS = {
    # recipe name helper, sweep per tier, sharpness measures correlated with test accuracy, flat-end measure
    "svhn-mlenet": {"names": wze17_svhn_attack_recipe_name, "sweep": WZE17_SVHN_ATTACK_SWEEP,
                    "measures": ("V50", "frobenius"), "flat": "V50"},
    "cifar10-resnet32": {"names": wze17_resnet_attack_recipe_name, "sweep": WZE17_RESNET_ATTACK_SWEEP,
                         "measures": ("frobenius",), "flat": "frobenius"},
}


def panel_solutions_wanted(panel: str, tier: str) -> list[tuple[str, int, int, float]]:
    """(recipe, run, size, λ) of a FIG3 panel at `tier`: its sweep, then NO_ATTACK_RUNS no-attack runs
    (size 0, λ 0); [] where the panel has no recipes at that tier (cpu)."""
    spec = FIG3_PANELS[panel]
    if tier not in spec["sweep"]:
        return []
    wanted = [(spec["names"](size, lam), 0, size, lam) for size, lam in spec["sweep"][tier]]
    return wanted + [(spec["names"](0, 0.0), run, 0, 0.0) for run in range(NO_ATTACK_RUNS)]


def frobenius_finite_difference(model, x, y, seed: int, probes: int = FD_PROBES, epsilon: float = FD_EPSILON,
                                batch: int = FD_BATCH, dtype=torch.float64, compare_hvp: bool = True) -> dict:
    """‖H‖_F of R_train (mean cross-entropy over x; eval-mode BatchNorm, see losslab.probes.hessian) by the
    corrected Eq. (14) on a `dtype` copy of `model`: sqrt of frobenius_sq_finite_difference, with the standard
    error of the square root by the delta method. compare_hvp: also the same probes' sqrt(mean ‖Hv‖²) with
    autograd Hessian-vector products ("frobenius_hvp").

    For smooth nets the two agree to O(ε²). For ReLU nets they need not: a probe whose ±εv step moves a
    pre-activation across 0 adds a gradient jump / (2ε) to the difference, which the autograd Hessian (ReLU''
    = 0) does not see. Measured on tiny ReLU ResNets (549 parameters, 14 random images): for one net 16 of 20
    probes gave 3-1,000× the autograd ‖Hv‖², for another (seed in test_resnet_frobenius_estimate_*) none of
    20 did, and 100 probes gave an estimate 20% above the exact ‖H‖_F. The paper's
    quantity is Eq. (14), so that is what the panel correlates; frobenius_hvp is recorded beside it."""
    model = copy.deepcopy(model).to(dtype)
    batches = [(x[i:i + batch].to(dtype), y[i:i + batch]) for i in range(0, len(x), batch)]
    estimate = frobenius_sq_finite_difference(HessianOperator(model, F.cross_entropy, batches), probes=probes,
                                              epsilon=epsilon, seed=seed)
    fro = float(np.sqrt(max(estimate.value, 0.0)))
    out = {"frobenius": fro, "frobenius_se": estimate.standard_error / (2 * fro) if fro > 0 else float("inf"),
           "probes": probes, "epsilon": epsilon, "dtype": str(dtype).replace("torch.", ""),
           "method": "finite difference, Eq. (14) with 1/(4Mε²)"}
    if compare_hvp:  # the same probes through autograd H v (no ReLU kinks): how far Eq. (14) is from ‖∇²R‖_F
        op = HessianOperator(model, F.cross_entropy, batches)
        out["frobenius_hvp"] = float(np.sqrt(np.mean([float(op.matvec(random_start(op, seed + p)).double()
                                                             .pow(2).sum()) for p in range(probes)])))
    return out


def _panel_measure(panel: str, model, train, tier, seed) -> dict:
    """The curvature of R_train a panel correlates with test accuracy: Eq. (14) for ResNet-32 (its 464,154²
    Hessian is out of reach), the spectrum (exact at gpu/paper, Lanczos at cpu) for mLeNet."""
    if panel == "cifar10-resnet32":
        return frobenius_finite_difference(model, train.x, train.y, seed)
    return _curvature(model, train, tier, seed)


def _panel_rows(panel, tier, trained_net, recipe_data_for) -> list[dict]:
    """The fitted solutions of a panel with their curvature; skips at tiers without the panel's recipes
    and (through recipe_data_for / trained_net) with the fix text when the data is missing."""
    wanted = panel_solutions_wanted(panel, tier)
    if not wanted:
        pytest.skip(f"WZE17-FIG3 {panel} panel has no {tier!r}-tier recipes (SVHN is not available offline, "
                    f"ResNet-32 on 10⁴ CIFAR-10 images is too large for the CPU tier): run with --tier gpu")
    train = recipe_data_for(wanted[-1][0])["train"]
    solutions = dict((i, _solution(trained_net, *w)) for i, w in _worker_order(wanted))
    fitted = [solutions[i] for i in range(len(wanted)) if solutions[i]["train_acc"] >= MIN_TRAIN_ACC]
    out = {i: {**{k: v for k, v in s.items() if k != "model"},
               **_curvature_memo(s, train, tier, claim_seed("WZE17-FIG3", 100 + i), panel)}
           for i, s in _worker_order(fitted)}
    if len(out) < 4:
        pytest.fail(f"{panel}: only {len(out)} solutions reached train accuracy >= {MIN_TRAIN_ACC}")
    return [out[i] for i in range(len(fitted))]


@pytest.mark.claim("WZE17-FIG3")
@pytest.mark.parametrize("panel", sorted(FIG3_PANELS))
def test_test_accuracy_falls_with_sharpness_svhn_and_resnet32(panel, evidence, tier, trained_net,
                                                              recipe_data_for, report_figure_dir):
    """Fig. 3 middle (V(50) and ‖H‖_F, mLeNet on SVHN) and right (Eq. 14 ‖H‖_F, ResNet-32 on 10⁴ CIFAR-10
    images): the same checks as the MNIST panel. gpu/paper tiers only."""
    rows = _panel_rows(panel, tier, trained_net, recipe_data_for)
    spec = FIG3_PANELS[panel]
    test = [r["test_acc"] for r in rows]
    results = {m: falls_with_sharpness_check([r[m] for r in rows], test) for m in spec["measures"]}
    no_attack = [r[spec["flat"]] for r in rows if not r["attacked"]]
    attacked = [r[spec["flat"]] for r in rows if r["attacked"]]
    flat = bool(no_attack) and bool(attacked) and flat_end_check(no_attack, attacked)
    evidence.record(measured={"panel": panel, **{m: numbers for m, (_, numbers) in results.items()},
                              "solutions": _table(rows), f"no-attack {spec['flat']}": no_attack,
                              f"attacked {spec['flat']} median": float(np.median(attacked)) if attacked else None},
                    criterion=f"{panel}: Spearman ρ({', '.join(spec['measures'])}; test accuracy): 95% interval "
                              f"below 0 and one-sided permutation p < {ALPHA}; max no-attack {spec['flat']} < "
                              f"median attacked {spec['flat']}",
                    uncertainty={**{m: numbers["interval"] for m, (_, numbers) in results.items()},
                                 "||H||_F standard errors": [r["frobenius_se"] for r in rows]},
                    seeds=sorted({r["seed"] for r in rows}), dtype=rows[0]["dtype"])
    measure = spec["measures"][0]
    _maybe_figure(f"WZE17-FIG3-{panel}.png", lambda ax: (
        ax.scatter([r[measure] for r in rows], [100 * t for t in test],
                   c=["tab:blue" if r["attacked"] else "tab:red" for r in rows]),
        ax.set_xlabel(measure), ax.set_ylabel("test accuracy (%)"),
        ax.set_title(f"{panel} (red: no attack, blue: attacked)", fontsize=9)), evidence, report_figure_dir)
    for m, (ok, numbers) in results.items():
        assert ok, f"{panel} {m}: {numbers}"
    assert flat, f"{panel}: no-attack {spec['flat']} {no_attack} not below the attacked median"


def _tiny_resnet(seed: int, activation: str = "relu"):
    """A 2-stage ResNet (losslab.nets.resnet.ResNet, option-A shortcuts, BatchNorm with non-trivial running
    statistics) and 14 random 3×8×8 images with random labels."""
    from losslab.nets.resnet import ResNet

    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(14, 3, 8, 8, generator=g), torch.randint(0, 4, (14,), generator=g)
    torch.manual_seed(seed + 1)
    model = ResNet([1, 1], [3, 4], 3, activation, "pad", classes=4)
    # train mode: moves the weights and the BatchNorm running statistics
    return _fit_with_adam(model, x, y, steps=30), x, y


@pytest.mark.claim("WZE17-FIG3")
def test_resnet_frobenius_estimate_matches_exact_on_tiny_resnet(evidence):
    """The ResNet-32 panel's measurement (frobenius_finite_difference, M=100, ε=1e-5, float64, batched) on a
    tiny softplus ResNet (smooth, so Eq. 14 → ‖H‖_F): it equals the same probes' ‖Hv‖² from the exact
    Hessian to 1e-4 (measured 2.5e-6; so it is Gaussian Hutchinson) and is within 4 standard errors of the
    exact ‖H‖_F.
    Recorded, not asserted: float32's deviation, and the ReLU net's Eq. (14) against its autograd value."""
    seed = claim_seed("WZE17-FIG3", 200)
    relu_model, x, y = _tiny_resnet(seed)
    relu = frobenius_finite_difference(relu_model, x, y, seed=seed, batch=5, probes=10)
    model, x, y = _tiny_resnet(seed, activation="softplus")
    batch = 5  # uneven batches (5, 5, 4): R is still the mean over all 14 images
    measured = frobenius_finite_difference(model, x, y, seed=seed, batch=batch, compare_hvp=False)
    measured32 = frobenius_finite_difference(model, x, y, seed=seed, batch=batch, dtype=torch.float32,
                                             compare_hvp=False)
    op = HessianOperator(copy.deepcopy(model).double(), F.cross_entropy, (x.double(), y))
    h = exact_hessian(op)
    exact = float(torch.linalg.matrix_norm(h))
    same_probes = float(np.sqrt(np.mean([float((h @ random_start(op, seed + p)).pow(2).sum())
                                         for p in range(FD_PROBES)])))
    numbers = {"dim": op.dim, "exact ‖H‖_F": exact, "Eq. 14 float64": measured["frobenius"],
               "standard error": measured["frobenius_se"], "same probes with exact H v": same_probes,
               "float64 relative deviation from exact-product value": abs(measured["frobenius"] / same_probes - 1),
               "float32 relative deviation from exact-product value": abs(measured32["frobenius"] / same_probes - 1),
               "ReLU net: Eq. 14 (10 probes)": relu["frobenius"], "ReLU net: same probes, autograd Hv":
               relu["frobenius_hvp"]}
    evidence.record(measured=numbers, criterion="float64 Eq. 14 = the same probes' exact ‖Hv‖² to 1e-4 relative; "
                    "within 4 SE of the exact ‖H‖_F", seeds=[seed], dtype="float64 (float32 recorded)")
    assert numbers["float64 relative deviation from exact-product value"] < 1e-4, numbers
    assert abs(measured["frobenius"] - exact) <= 4 * measured["frobenius_se"], numbers


# ---- the CPU-tier instrument: float32 Lanczos against the exact float64 spectrum (tiny net) -----------

def _tiny_fitted_convnet():
    """A 225-parameter conv net (conv, ReLU, max-pool, conv, global average pool, like mLeNet) fitted to
    40 random 8×8 images with random labels: a small Hessian with outliers, a bulk and negative values."""
    g = torch.Generator().manual_seed(claim_seed("WZE17-FIG2", 100))
    x, y = torch.randn(40, 1, 8, 8, generator=g), torch.randint(0, 5, (40,), generator=g)
    torch.manual_seed(claim_seed("WZE17-FIG2", 101))
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(4, 5, 3), torch.nn.Flatten())
    return _fit_with_adam(model, x, y, steps=300), x, y


def _fit_with_adam(model, x, y, steps: int):
    """`steps` full-batch Adam steps (lr 1e-2) on the mean cross-entropy; the model returned in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.mark.claim("WZE17-FIG2")
def test_lanczos_summary_float32_matches_exact(evidence):
    """The CPU tier's float32 measurement against the exact float64 Hessian of a tiny fitted net."""
    model, x, y = _tiny_fitted_convnet()
    model64 = copy.deepcopy(model).double()
    exact_op = HessianOperator(model64, F.cross_entropy, (x.double(), y))
    h = exact_hessian(exact_op)
    lam = torch.linalg.eigvalsh(h)
    k, steps = 10, 60
    fast64 = RetainedGraphHessian(model64, F.cross_entropy, x, y)
    probe = random_start(exact_op, 0)
    product_error = float((fast64.matvec(probe) - h @ probe).abs().max() / lam.abs().max())
    summary = lanczos_summary(RetainedGraphHessian(model, F.cross_entropy, x, y), steps, seed=1,
                              rayleigh_op=fast64, k=k, probes=20)
    exact = {"top": lam.flip(0)[:k], "V": log_volume(lam, k), "frobenius": float(lam.pow(2).sum().sqrt()),
             "lambda_min": float(lam[0]),
             "near_zero": float((lam.abs() < NEAR_ZERO * lam[-1]).double().mean())}
    top_error = float((torch.tensor(summary["top"]) - exact["top"]).abs().max() / lam[-1])
    numbers = {"dim": exact_op.dim, "HVP max error / λ_max (float64)": product_error,
               "top-10 max error / λ_max (float32)": top_error, "V(10) measured": summary["V50"],
               "V(10) exact": exact["V"], "‖H‖_F measured": summary["frobenius"],
               "‖H‖_F standard error": summary["frobenius_se"], "‖H‖_F exact": exact["frobenius"],
               "Rayleigh min": summary["most_negative"], "λ_min exact": exact["lambda_min"],
               "near-zero lower bound": summary["near_zero_fraction"], "near-zero exact": exact["near_zero"]}
    evidence.record(measured=numbers, criterion="float64 HVP = exact to 1e-10·λ_max; float32 Lanczos top-10 "
                    "within 1e-4·λ_max, V(10) within 1e-2, ‖H‖_F within 4 SE + 1e-4 relative; Rayleigh quotient "
                    ">= λ_min and < 0; near-zero bound <= exact fraction + 3 SE",
                    seeds=[claim_seed("WZE17-FIG2", 100)], dtype="float32 vs float64")
    assert product_error < 1e-10, numbers
    assert top_error < 1e-4 and abs(summary["V50"] - exact["V"]) < 1e-2, numbers
    assert abs(summary["frobenius"] - exact["frobenius"]) <= (4 * summary["frobenius_se"]
                                                              + 1e-4 * exact["frobenius"]), numbers
    assert exact["lambda_min"] - 1e-12 <= summary["most_negative"] < 0, numbers
    assert summary["near_zero_fraction"] <= exact["near_zero"] + SE_MULTIPLE * summary["near_zero_se"], numbers


@pytest.mark.claim("WZE17-FIG2", control=True)
def test_spectrum_shape_check_rejects_planted_spectra(evidence):
    """Through the CPU-tier measurement: a Hessian-like planted spectrum passes; the same without negative
    eigenvalues, and one without a near-zero bulk, fail."""
    from losslab.probes.operators import MatrixOperator, matrix_with_spectrum

    outliers = torch.tensor([20.0, 8.0, 3.0, 1.0, 0.5]).double()
    bulk = torch.linspace(-5e-3, 5e-3, 380).double()
    spectra = {"hessian-like": torch.cat([outliers, bulk, torch.tensor([-0.2, -0.1]).double()]),
               "no negative": torch.cat([outliers, bulk.abs(), torch.tensor([0.2, 0.1]).double()]),
               "no near-zero bulk": torch.cat([outliers, torch.linspace(-0.2, 10.0, 382).double()])}
    cases = {}
    for name, lam in spectra.items():
        summary = lanczos_summary(MatrixOperator(matrix_with_spectrum(lam, seed=3).float()), LANCZOS_STEPS,
                                  seed=4, k=5)
        cases[name] = {"passes": spectrum_shape_check(summary), "near zero": summary["near_zero_fraction"],
                       "most negative": summary["most_negative"]}
    evidence.record(measured=cases, criterion="the FIG2 shape check accepts only the Hessian-like spectrum")
    assert cases["hessian-like"]["passes"] and not cases["no negative"]["passes"], cases
    assert not cases["no near-zero bulk"]["passes"], cases
