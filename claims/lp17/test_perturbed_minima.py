"""LP17 §4.2-4.4, 5, App. B.4, E: perturbing a zero-train-error DCNN and retraining with full-batch GD.

Pipelines: losslab.experiments.lp17.perturbation (per-tier settings in its SETTINGS). M_final = the recipe's
SGD phase (cached trained_net) + the tier's GD phase. CPU tier: a narrow DCNN of the paper's layout on 128
CIFAR-10 images (recipe lp17-perturb-dcnn-cifar10).
"""

import copy
import functools

import numpy as np
import pytest
import torch

from fixtures.recipes import at_scale, make_model, recipe_for
from losslab.catalog import load_catalog
from losslab.experiments.lp17.perturbation import (SETTINGS, branch_distances, branch_from_trunk,
                                                   interpolation_curve, midpoint_excess, perturb_and_retrain,
                                                   perturbation_profile, planted_ordering, separation)
from losslab.probes.mds import classical_mds, cosine_dissimilarity
from losslab.probes.perturb import full_batch_gd
from losslab.report.figures import pyplot_or_none, save_figure
from losslab.seeds import claim_seed
from losslab.stats import (clopper_pearson, smallest_detected_shift, spearman_interval, spearman_permutation_test,
                           within_group_scatter)

RECIPE = "lp17-perturb-dcnn-cifar10"


@pytest.fixture(scope="module")
def setting(tier):
    """SETTINGS[tier]; at scale smoke the GD phases cut to a few epochs (code path only)."""
    return at_scale(SETTINGS[tier], {**SETTINGS[tier], "m_final_gd_epochs": 2, "trunk_epochs": 4, "split_scale": 0.01})


def gd_epochs(epochs):
    """A retraining length of the paper (TOML); 2 epochs at scale smoke."""
    return at_scale(epochs, 2)


@pytest.fixture(scope="module")
def data(recipe_data_for, device):
    splits = recipe_data_for(RECIPE)
    return {k: (splits[k].x.to(device), splits[k].y.to(device)) for k in ("train", "test")}


@pytest.fixture(scope="module")
def m_final(trained_net, data, setting):
    """m_final(run_index, full=False) -> (model at zero train error, its GD-phase train errors, SGD metrics).

    full: the paper's whole GD phase (LP17-SMALL); else the tier's (at the cpu tier it stops at the first
    zero train error, see SETTINGS)."""
    @functools.cache
    def build(run_index, stop_at_zero):
        model, metrics = trained_net(RECIPE, run_index)
        model = copy.deepcopy(model)
        errors = full_batch_gd(model, *data["train"], setting["m_final_gd_epochs"], setting["gd_lr"],
                               stop_at_zero_error=stop_at_zero)
        return model, errors, metrics
    return lambda run_index, full=False: build(run_index, setting["m_final_stop_at_zero"] and not full)


@pytest.fixture(scope="module")
def flat(pytestconfig):
    """LP17-FLAT's catalog entry: its runs are shared by LP17-SMALL's control and LP17-INTERP."""
    return load_catalog(pytestconfig.rootpath / "reference")["LP17-FLAT"]


@pytest.fixture(scope="module")
def flat_runs(m_final, data, setting, flat):
    """flat_runs(epochs) -> LP17-FLAT's runs: 0.1·S on M_final's layer weights, then `epochs` GD epochs."""
    @functools.cache
    def get(epochs):
        seeds = [claim_seed("LP17-FLAT", i) for i in range(flat.threshold("runs"))]
        return [perturb_and_retrain(m_final(0)[0], *data["train"], flat.threshold("noise_std_factor"), "std", s,
                                    epochs, setting["gd_lr"]) for s in seeds]
    return get


def _m_final_evidence(m_final, setting, full=False):
    model, errors, metrics = m_final(0, full)
    return {"SGD epochs run": metrics["epochs_run"], "SGD final train acc": metrics["final"]["train_acc"],
            "M_final GD epochs": len(errors) - 1, "M_final train error": errors[-1],
            "parameters": sum(p.numel() for p in model.parameters())}



def _record_returns(evidence, runs, claim, m_final, setting, device):
    broken = [r.error_after_noise for r in runs]
    final = [r.errors[-1] for r in runs]
    evidence.headline("train error after noise -> after retraining (worst run)", max(final),
                      paper=claim.threshold("final_train_error"))
    evidence.record(measured={**_m_final_evidence(m_final, setting), "train error right after the noise": broken,
                              "final train error per run": final, "GD epochs": len(runs[0].errors) - 1},
                    seeds=[r.seed for r in runs], dtype="float32", device=device, reduced=setting["reduced"])
    return broken, final


@pytest.mark.slow
@pytest.mark.claim("LP17-FLAT", parts=["returns_to_zero"])
def test_retraining_returns_perturbed_runs_to_zero_error(evidence, claim, flat_runs, m_final, setting, device):
    assert m_final(0)[1][-1] == 0, f"M_final not at zero train error ({m_final(0)[1][-1]})"
    runs = flat_runs(gd_epochs(claim.threshold("retrain_gd_epochs")))
    broken, final = _record_returns(evidence, runs, claim, m_final, setting, device)
    if max(broken) == 0:
        evidence.inconclusive("the 0.1·S noise left the train error at 0 in every run: the return is not exercised")
    assert max(final) <= claim.threshold("final_train_error"), f"runs not back at zero train error: {final}"


@pytest.mark.claim("LP17-FLAT", parts=["returns_to_zero"], control=True)
def test_control_without_retraining_stays_off_zero_error(evidence, claim, flat_runs, m_final, setting, device):
    """The same noise, the retraining removed (0 GD epochs): the zero-error check rejects."""
    runs = flat_runs(0)
    evidence.record(removes="the retraining: 0 GD epochs after the 0.1·S noise")
    _, final = _record_returns(evidence, runs, claim, m_final, setting, device)
    assert max(final) > claim.threshold("final_train_error"), f"zero train error without retraining: {final}"


@pytest.mark.claim("LP17-FLAT", parts=["distinct_weights"])
def test_retrained_runs_end_at_distinct_weights(evidence, claim, flat_runs, m_final, setting, device):
    runs = flat_runs(gd_epochs(claim.threshold("retrain_gd_epochs")))
    sep = separation(runs, m_final(0)[0])
    evidence.headline("min pairwise distance after retraining / mean pairwise distance from the noise alone",
                      sep["retained"])
    evidence.record(measured=sep, seeds=[r.seed for r in runs], dtype="float32", device=device,
                    reduced=setting["reduced"])
    assert sep["retained"] >= claim.threshold("retained_separation_min"), f"runs converge to one point: {sep}"


@pytest.mark.claim("LP17-FLAT", parts=["distinct_weights"], control=True)
def test_control_shared_noise_draw_coincides(evidence, claim, flat_runs, m_final, data, setting, device):
    """Two runs with one noise draw (the independent draws removed) end at one point: the check rejects."""
    first = flat_runs(gd_epochs(claim.threshold("retrain_gd_epochs")))[0]
    twin = perturb_and_retrain(m_final(0)[0], *data["train"], claim.threshold("noise_std_factor"), "std",
                               first.seed, gd_epochs(claim.threshold("retrain_gd_epochs")), setting["gd_lr"])
    sep = separation([first, twin], m_final(0)[0])
    evidence.record(removes="independent noise draws: both runs use the same seed", measured=sep, device=device)
    evidence.headline("min pairwise distance after retraining / mean pairwise distance from the noise alone",
                      sep["retained"])
    assert not sep["retained"] >= claim.threshold("retained_separation_min"), f"shared draw kept apart: {sep}"


def _small_runs(claim, m_final, data, setting):
    """From M_final after the paper's whole GD phase (App. E: M_final = 60 SGD + 372 GD epochs)."""
    seeds = [claim_seed("LP17-SMALL", i) for i in range(claim.threshold("runs"))]
    return [perturb_and_retrain(m_final(0, full=True)[0], *data["train"], claim.threshold("noise_mean_abs_factor"),
                                "mean_abs", s, gd_epochs(claim.threshold("gd_epochs")), setting["gd_lr"]) for s in seeds]


def _worst_error(runs):
    """Largest train error right after the noise or at any GD epoch, over the runs."""
    return max(max([r.error_after_noise] + r.errors) for r in runs)


@pytest.mark.slow
@pytest.mark.claim("LP17-SMALL", parts=["stays_at_zero"])
def test_tiny_noise_keeps_zero_train_error_throughout_gd(evidence, claim, m_final, data, setting, device):
    runs = _small_runs(claim, m_final, data, setting)
    worst = _worst_error(runs)
    evidence.headline("largest train error right after the noise or at any GD epoch", worst,
                      paper=claim.threshold("max_train_error"))
    evidence.record(measured={**_m_final_evidence(m_final, setting, full=True),
                              "train error right after the noise": [r.error_after_noise for r in runs],
                              "max train error over GD epochs": [max(r.errors) for r in runs]},
                    seeds=[r.seed for r in runs], dtype="float32", device=device, reduced=setting["reduced"])
    assert worst <= claim.threshold("max_train_error"), f"train error left 0: {worst}"


@pytest.mark.claim("LP17-SMALL", parts=["stays_at_zero"], control=True)
def test_control_large_noise_leaves_zero_error(evidence, claim, m_final, data, setting, device):
    """The same M_final and seeds, 1·S noise instead of 0.01·m: the stays-at-zero check rejects right after
    the perturbation (no GD needed)."""
    seeds = [claim_seed("LP17-SMALL", i) for i in range(claim.threshold("runs"))]
    runs = [perturb_and_retrain(m_final(0, full=True)[0], *data["train"], claim.threshold("control_noise_std_factor"),
                                "std", s, 0, setting["gd_lr"]) for s in seeds]
    worst = _worst_error(runs)
    evidence.record(removes="the small noise: 1·S instead of 0.01·m",
                    measured={"train error right after the noise": [r.error_after_noise for r in runs]},
                    seeds=seeds, device=device)
    evidence.headline("largest train error right after the noise or at any GD epoch", worst)
    assert worst > claim.threshold("max_train_error"), f"1·S noise kept zero train error: {worst}"


@pytest.fixture(scope="module")
def curves(flat_runs, flat, m_final, data, pytestconfig):
    """Interpolation curves: 'same basin' (FLAT run pairs 0-1, 2-3) and 'split at epoch 0' (M_final of two
    independent inits)."""
    interp = load_catalog(pytestconfig.rootpath / "reference")["LP17-INTERP"]
    points = interp.threshold("interpolation_points")
    runs = flat_runs(gd_epochs(flat.threshold("retrain_gd_epochs")))
    same = [interpolation_curve(runs[i].model, runs[j].model, data["train"], data["test"], points)
            for i, j in ((0, 1), (2, 3))]
    split = [interpolation_curve(m_final(0)[0], m_final(1)[0], data["train"], data["test"], points)]
    return {"same_basin": same, "barrier": split}


def _excess(curve_list):
    return {k: [midpoint_excess(c, f"{k}_error") for c in curve_list] for k in ("train", "test")}


def _tolerances(claim, data, curve_list):
    """One training image; one binomial standard error of the endpoints' mean test error."""
    n_train, n_test = len(data["train"][1]), len(data["test"][1])
    p = np.mean([(c[0]["test_error"] + c[-1]["test_error"]) / 2 for c in curve_list])
    return {"train": claim.threshold("train_tolerance_images") / n_train,
            "test": claim.threshold("test_tolerance_standard_errors") * float(np.sqrt(p * (1 - p) / n_test))}


def _same_basin(claim, data, curve_list):
    excess, tol = _excess(curve_list), _tolerances(claim, data, curve_list)
    return max(excess["train"]) <= tol["train"] and max(excess["test"]) <= tol["test"], excess, tol


def _barrier(claim, data, curve_list):
    excess, tol = _excess(curve_list), _tolerances(claim, data, curve_list)
    return min(excess["train"]) > tol["train"], excess, tol


FIGURES = {"same_basin": "LP17-INTERP-same-basin.png", "barrier": "LP17-INTERP-epoch0.png"}


def _record_curves(evidence, pair, curve_list, excess, tol, figure_dir, device, setting):
    evidence.headline(f"midpoint train error - endpoint mean ({pair} pairs, largest)", max(excess["train"]))
    evidence.record(measured={"midpoint - endpoint mean": excess, "tolerances": tol, "curves": curve_list},
                    dtype="float32", device=device, reduced=setting["reduced"])
    _plot_curves(curve_list, figure_dir, FIGURES[pair], evidence)


INTERP_CHECKS = {"same_basin": _same_basin, "barrier": _barrier}
OTHER = {"same_basin": "barrier", "barrier": "same_basin"}
REMOVES = {"same_basin": "the shared basin: endpoints split at epoch 0 (independent inits)",
           "barrier": "the early split: endpoints are retrained perturbations of one M_final"}


@pytest.mark.claim("LP17-INTERP", parts=["{part}"])
@pytest.mark.parametrize("part", ["same_basin", "barrier"])
def test_interpolation_midpoint(evidence, claim, part, curves, data, setting, device, report_figure_dir):
    """same_basin: two retrained perturbations of M_final; barrier: two models split at epoch 0."""
    ok, excess, tol = INTERP_CHECKS[part](claim, data, curves[part])
    _record_curves(evidence, part, curves[part], excess, tol, report_figure_dir, device, setting)
    assert ok, f"{part} check fails: {excess} (tolerances {tol})"


@pytest.mark.claim("LP17-INTERP", parts=["{part}"], control=True)
@pytest.mark.parametrize("part", ["same_basin", "barrier"])
def test_control_interpolation_check_rejects_the_other_pair(evidence, claim, part, curves, data, setting, device,
                                                            report_figure_dir):
    """Each part's check on the other part's pair (only the split time differs): it rejects."""
    other = OTHER[part]
    ok, excess, tol = INTERP_CHECKS[part](claim, data, curves[other])
    evidence.record(removes=REMOVES[part])
    _record_curves(evidence, other, curves[other], excess, tol, report_figure_dir, device, setting)
    assert not ok, f"{part} check passes on the {other} pair: {excess} (tolerances {tol})"


def _plot_curves(curve_list, figure_dir, name, evidence):
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(4, 3))
    for i, c in enumerate(curve_list):
        alphas = [r["alpha"] for r in c]
        ax.plot(alphas, [r["train_error"] for r in c], "o-", label=f"train {i}")
        ax.plot(alphas, [r["test_error"] for r in c], "s--", label=f"test {i}")
    ax.set_xlabel("alpha"), ax.set_ylabel("error"), ax.legend(fontsize=6)
    save_figure(fig, figure_dir, name, evidence)
    plt.close(fig)


@pytest.fixture(scope="module")
def branches(data, setting, tier, pytestconfig):
    """LP17 Fig. 4: a full-batch GD trunk from a fresh init and 0.25·S branches at the (scaled) split epochs."""
    mds = load_catalog(pytestconfig.rootpath / "reference")["LP17-MDS"]
    splits = [round(s * setting["split_scale"]) for s in mds.threshold("split_epochs_paper")]
    recipe = recipe_for(RECIPE, tier)
    model = make_model(recipe, claim_seed("LP17-MDS", 0)).to(data["train"][0].device)
    seeds = [claim_seed("LP17-MDS", 1 + k) for k in range(setting["branch_seeds"])]
    return branch_from_trunk(model, *data["train"], splits, setting["trunk_epochs"],
                             mds.threshold("noise_std_factor"), seeds, setting["gd_lr"])


def _detectable_rho(x, noise, sign):
    """|Spearman rho| of the weakest planted_ordering(x, noise, sign · t) whose 95% interval excludes 0 (the
    interval half of the ordering checks; the permutation p is too slow to re-run per planted strength)."""
    def flagged(t):
        _, lo, hi = spearman_interval(x, planted_ordering(x, noise, sign * t))
        return hi < 0 if sign < 0 else lo > 0
    rho = np.arange(1, 20) / 20  # planted strengths t = rho / sqrt(1 - rho^2) noise SDs: Pearson rho in steps of 0.05
    t = smallest_detected_shift(flagged, rho / np.sqrt(1 - rho**2))
    return abs(spearman_interval(x, planted_ordering(x, noise, sign * t))[0]) if np.isfinite(t) else float("inf")


def _ordering(claim, splits, distances):
    """Spearman(split epoch, distance) < 0: one-sided permutation p < alpha and the interval below 0."""
    rho, lo, hi = spearman_interval(splits, distances)
    _, p = spearman_permutation_test(splits, distances, alternative="less")
    return hi < 0 and p < claim.threshold("alpha"), {"rho": rho, "interval": (lo, hi), "p (rho < 0)": p}


@pytest.mark.slow
@pytest.mark.claim("LP17-MDS", parts=["split_ordering"])
def test_earlier_splits_end_farther_from_the_trunk(evidence, claim, branches, setting, device, report_figure_dir):
    distances = branch_distances(branches)
    ok, stats = _ordering(claim, branches.splits, distances)
    evidence.headline("Spearman(split epoch, final distance to the trunk)", stats["rho"], interval=stats["interval"])
    evidence.record(measured={"split epochs": branches.splits, "final |w_branch - w_trunk| / |w_trunk|": distances,
                              **stats, "trunk epochs": setting["trunk_epochs"]},
                    seeds=[claim_seed("LP17-MDS", 0)] + branches.seeds, dtype="float32", device=device,
                    reduced=setting["reduced"])
    _plot_mds(branches, report_figure_dir, evidence)
    evidence.power(detectable=_detectable_rho(branches.splits, within_group_scatter(branches.splits, distances), -1),
                   needed=claim.threshold("rank_correlation_needed"),
                   method="falling order planted on the final distances' scatter within each split epoch: the "
                          "smallest |rho| whose 95% interval excludes 0")
    assert ok, f"no split-time ordering: {stats}, distances {distances}"


@pytest.mark.claim("LP17-MDS", parts=["split_ordering"], control=True)
def test_control_distances_right_after_the_split_are_not_ordered(evidence, claim, branches, device):
    """No training after the split: the distance is the injected noise alone; the same check rejects."""
    distances = branch_distances(branches, at_end=False)
    ok, stats = _ordering(claim, branches.splits, distances)
    evidence.record(removes="the training after the split (distances right after the noise)",
                    measured={"distance right after the split": distances, **stats}, device=device)
    evidence.headline("Spearman(split epoch, distance right after the split)", stats["rho"],
                      interval=stats["interval"])
    assert not ok, f"distances right after the split already ordered: {stats}"


def _plot_mds(branches, figure_dir, evidence):
    """Classical MDS (1 - cos) of the first layer's weights (the paper's 'layer 2') over the snapshots."""
    plt = pyplot_or_none()
    if plt is None:
        return
    # every 5th epoch: the picture, not the evidence (MDS is cubic in the number of points)
    runs = [run[::5] for run in [branches.trunk] + branches.snapshots]
    points = torch.stack([w for run in runs for w in run]).numpy()[:, :branches.first_layer_size]
    coords, _ = classical_mds(cosine_dissimilarity(points), k=2)
    fig, ax = plt.subplots(figsize=(5, 4))
    start = 0
    for i, run in enumerate(runs):
        xy = coords[start:start + len(run)]
        label = "trunk" if i == 0 else f"split {branches.splits[i - 1]}"
        ax.plot(xy[:, 0], xy[:, 1], "k.-" if i == 0 else ".-", lw=2 if i == 0 else 0.8, label=label)
        start += len(run)
    ax.legend(fontsize=5), ax.set_title("classical MDS, 1 - cos, layer-2 weights")
    save_figure(fig, figure_dir, "LP17-MDS-branches.png", evidence)
    plt.close(fig)


def _never_lower(claim, profile):
    """Clopper-Pearson 95% upper bound of P(loss falls) <= the claim's fraction."""
    upper = clopper_pearson(profile["lowered"], len(profile["rows"]))[1]
    return upper <= claim.threshold("lowering_fraction_max"), upper


def _profile(claim, model, data):
    return perturbation_profile(model, *data["train"], claim.threshold("noise_std_factors"),
                                at_scale(claim.threshold("draws_per_size"), 2), claim_seed("LP17-MONO", 0))


@pytest.fixture(scope="module")
def mono_profile(m_final, data, pytestconfig):
    """LP17-MONO's perturbation profile at M_final (shared by its two parts)."""
    return _profile(load_catalog(pytestconfig.rootpath / "reference")["LP17-MONO"], m_final(0)[0], data)


@pytest.mark.claim("LP17-MONO", parts=["never_lower"])
def test_perturbations_at_a_zero_error_minimum_do_not_lower_the_loss(evidence, claim, m_final, mono_profile, setting,
                                                                     device):
    profile = mono_profile
    ok, upper = _never_lower(claim, profile)
    draws = len(profile["rows"])
    evidence.headline("perturbations lowering the train loss", profile["lowered"] / draws, interval=(0, upper))
    flagged = smallest_detected_shift(
        lambda share: not _never_lower(claim, {**profile, "lowered": round(share * draws)})[0],
        [k / draws for k in range(draws + 1)])
    evidence.power(detectable=flagged, needed=claim.threshold("lowering_fraction_max"),
                   method=f"planted share of lowering draws among {draws}: the smallest the Clopper-Pearson "
                          "check flags")
    evidence.record(measured={**_m_final_evidence(m_final, setting), "lowered": profile["lowered"],
                              "draws": len(profile["rows"]), "CP upper": upper, "base loss": profile["base loss"]},
                    seeds=[claim_seed("LP17-MONO", 0)], dtype="float32", device=device, reduced=setting["reduced"])
    assert ok, f"{profile['lowered']}/{len(profile['rows'])} perturbations lowered the loss (upper {upper})"


@pytest.mark.claim("LP17-MONO", parts=["never_lower"], control=True)
def test_control_perturbations_at_the_initialisation_lower_the_loss(evidence, claim, data, tier, device):
    """The same net untrained (no minimum): the never-lower check rejects."""
    model = make_model(recipe_for(RECIPE, tier), claim_seed("LP17-FLAT", 0)).to(data["train"][0].device)
    profile = _profile(claim, model, data)
    ok, upper = _never_lower(claim, profile)
    evidence.record(removes="the minimum: the net at its initialisation", measured={
        "lowered": profile["lowered"], "draws": len(profile["rows"]), "CP upper": upper}, device=device)
    evidence.headline("perturbations lowering the train loss", profile["lowered"] / len(profile["rows"]),
                      interval=(0, upper))
    assert not ok, f"perturbations at the initialisation never lowered the loss: {profile['lowered']}"


@pytest.mark.claim("LP17-MONO", parts=["rises_with_size"])
def test_loss_increase_grows_with_the_perturbation_size(evidence, claim, m_final, mono_profile, setting, device):
    profile = mono_profile
    sizes = [r["size"] for r in profile["rows"]]
    rho, lo, hi = spearman_interval(sizes, [r["loss increase"] for r in profile["rows"]])
    means = profile["mean loss increase per size"]
    evidence.headline("Spearman(noise size, train-loss increase)", rho, interval=(lo, hi))
    evidence.record(measured={"sizes (·S)": claim.threshold("noise_std_factors"), "mean loss increase": means,
                              "mean train error per size": [float(np.mean([r["error"] for r in profile["rows"]
                                                                           if r["size"] == c]))
                                                            for c in claim.threshold("noise_std_factors")]},
                    seeds=[claim_seed("LP17-MONO", 0)], dtype="float32", device=device, reduced=setting["reduced"])
    scatter = within_group_scatter(sizes, [r["loss increase"] for r in profile["rows"]])
    evidence.power(detectable=_detectable_rho(sizes, scatter, 1), needed=claim.threshold("rank_correlation_needed"),
                   method="rising order planted on the loss increases' scatter within each size: the smallest |rho| "
                          "whose 95% interval excludes 0")
    assert all(np.diff(means) > 0) and lo > 0, f"loss does not rise with the size: {means}, rho {rho} ({lo}, {hi})"
