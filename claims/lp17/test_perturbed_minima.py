"""LP17 §4.2-4.4, App. B.4, App. E: perturbing a zero-train-error DCNN and retraining with full-batch GD.

M_final (App. B.4) = the recipe's SGD phase (cached trained_net) + full-batch GD here, to zero train error.
Layer-wise noise: every parameter tensor W += N(0, (c·s(W))^2), s = std(W) ("0.1·S") or mean |W| ("0.01·m").
Distances are Euclidean in the flat parameter vector, stated relative to |w| of M_final.
CPU tier: a narrow DCNN of the paper's layout on 128 CIFAR-10 images (recipe lp17-perturb-dcnn-cifar10).
"""

import copy
import itertools

import numpy as np
import pytest
import torch

from losslab.probes.mds import classical_mds, cosine_dissimilarity
from losslab.probes.perturb import (error_and_loss, flat_weights, full_batch_gd, interpolate, layerwise_noise,
                                    recalibrate_batchnorm, sgd_epochs)
from losslab.seeds import claim_seed
from losslab.stats import spearman_interval, spearman_permutation_pvalue
from losslab.report.figures import pyplot_or_none, save_figure

RECIPE = "lp17-perturb-dcnn-cifar10"
# Full-batch GD phase. Paper: 400 epochs (its GD lr is not given; 0.01 = its SGD lr is our reading).
GD = {"cpu": {"epochs": 15, "lr": 0.05}, "gpu": {"epochs": 400, "lr": 0.01}, "paper": {"epochs": 400, "lr": 0.01}}
# MDS branching (SGD, same batches as the trunk after the split): trunk epochs, split epochs, noise sizes
BRANCH = {"cpu": {"epochs": 10, "lr": 0.05, "batch": 32, "splits": (0, 2, 4, 6, 8, 9), "split_at": 5,
                  "noises": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0), "noise": 0.1},
          "gpu": {"epochs": 60, "lr": 0.01, "batch": 100, "splits": (0, 5, 10, 20, 30, 45), "split_at": 10,
                  "noises": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0), "noise": 0.1}}
BRANCH["paper"] = BRANCH["gpu"]
RUNS = 4
FLAT_NOISE, SMALL_NOISE, LARGE_NOISE = 0.1, 0.01, 1.0
MIN_REL_DISTANCE = 0.01  # "runs at distinct weights": pairwise |w_i - w_j| >= 1% of |w|
INTERP_TOL_TEST = 0.02  # ~1 binomial SE of the CPU tier's 500-image test error (~0.8); train tolerance: one training image
BARRIER = 0.02  # a barrier: midpoint train error above the endpoints' mean by more than this
ALPHAS = np.linspace(0, 1, 11)


class _Store:
    """Per-module memo: M_final models and perturbation runs are shared by the tests below."""
    cache: dict = {}


@pytest.fixture(scope="module")
def data(recipe_data_for, device):
    splits = recipe_data_for(RECIPE)
    return {k: (splits[k].x.to(device), splits[k].y.to(device)) for k in ("train", "test")}


@pytest.fixture(scope="module")
def m_final(trained_net, data, tier):
    """m_final(run_index) -> (model at zero train error, GD errors): recipe SGD phase + full-batch GD."""
    def get(run_index):
        key = ("m_final", run_index)
        if key not in _Store.cache:
            model, metrics = trained_net(RECIPE, run_index)
            model = copy.deepcopy(model)
            errors = full_batch_gd(model, *data["train"], **GD[tier])
            _Store.cache[key] = (model, errors, metrics)
        return _Store.cache[key]
    return get


def perturb_and_retrain(base, data, scale, rule, seed, gd):
    """(retrained model, train error right after the perturbation, GD train errors)."""
    model = layerwise_noise(copy.deepcopy(base), scale, rule, seed)
    after = error_and_loss(model, *data["train"], calibrate_x=data["train"][0])[0]
    errors = full_batch_gd(model, *data["train"], **gd)
    return model, after, errors


def flat_runs(m_final, data, tier, scale):
    key = ("flat", scale)
    if key not in _Store.cache:
        base = m_final(0)[0]
        seeds = [claim_seed("LP17-FLAT", i) for i in range(RUNS)]
        _Store.cache[key] = ([perturb_and_retrain(base, data, scale, "std", s, GD[tier]) for s in seeds], seeds)
    return _Store.cache[key]


def pairwise_rel_distances(models, reference):
    norm = float(flat_weights(reference).norm())
    ws = [flat_weights(m) for m in models]
    return [float((a - b).norm()) / norm for a, b in itertools.combinations(ws, 2)], norm


def _base_evidence(m_final):
    model, errors, metrics = m_final(0)
    return {"SGD epochs run": metrics["epochs_run"], "SGD final train acc": metrics["final"]["train_acc"],
            "M_final train error after GD": errors[-1], "parameters": sum(p.numel() for p in model.parameters())}


@pytest.mark.claim("LP17-FLAT")
def test_perturbed_runs_return_to_zero_error_at_distinct_weights(evidence, m_final, data, tier, device):
    base_errors = m_final(0)[1]
    assert base_errors[-1] == 0.0, f"M_final not at zero train error ({base_errors[-1]})"
    runs, seeds = flat_runs(m_final, data, tier, FLAT_NOISE)
    final = [r[2][-1] for r in runs]
    distances, norm = pairwise_rel_distances([r[0] for r in runs], m_final(0)[0])
    to_base = [float((flat_weights(r[0]) - flat_weights(m_final(0)[0])).norm()) / norm for r in runs]
    evidence.record(
        measured={**_base_evidence(m_final), "train error right after perturbation": [r[1] for r in runs],
                  "final train error per run": final, "|w| of M_final": norm,
                  "pairwise |w_i - w_j| / |w|": distances, "|w_i - w_Mfinal| / |w|": to_base,
                  "GD epochs": GD[tier]["epochs"], "GD lr": GD[tier]["lr"]},
        criterion=f"{RUNS} runs of 0.1·S layer-wise noise + full-batch GD: every final train error == 0 and "
                  f"min pairwise |w_i - w_j| / |w| >= {MIN_REL_DISTANCE}",
        seeds=seeds, dtype="float32", device=device,
        note=("0.1·S noise left the train error at 0 in every run (the perturbed points are still in the "
              "zero-error region at this tier), so the 'return to zero error' part is not exercised here"
              if max(r[1] for r in runs) == 0 else "the perturbation raised the train error; GD brought it back"))
    assert max(final) == 0.0, f"not every run back at zero train error: {final}"
    assert min(distances) >= MIN_REL_DISTANCE, f"runs coincide: pairwise relative distances {distances}"


@pytest.mark.claim("LP17-FLAT", control=True)
def test_distance_check_rejects_unperturbed_runs(evidence, m_final, data, tier, device):
    """Control: zero noise (two seeds) + the same GD gives the same point: the distinctness check rejects."""
    runs = [perturb_and_retrain(m_final(0)[0], data, 0.0, "std", claim_seed("LP17-FLAT", i), GD[tier])
            for i in range(2)]
    distances, _ = pairwise_rel_distances([r[0] for r in runs], m_final(0)[0])
    evidence.record(measured={"pairwise |w_i - w_j| / |w| without noise": distances},
                    criterion=f"check 'min pairwise distance >= {MIN_REL_DISTANCE}' must reject", device=device)
    assert min(distances) < MIN_REL_DISTANCE, f"unperturbed runs do not coincide: {distances}"


@pytest.mark.claim("LP17-SMALL")
def test_tiny_noise_keeps_zero_train_error_throughout_gd(evidence, m_final, data, tier, device):
    base = m_final(0)[0]
    seeds = [claim_seed("LP17-SMALL", i) for i in range(RUNS)]
    runs = [perturb_and_retrain(base, data, SMALL_NOISE, "mean_abs", s, GD[tier]) for s in seeds]
    after = [r[1] for r in runs]
    worst = [max(r[2]) for r in runs]
    evidence.record(
        measured={"train error right after perturbation": after, "max train error over GD epochs": worst,
                  "GD epochs": GD[tier]["epochs"]},
        criterion=f"{RUNS} runs of 0.01·m noise: train error == 0 right after the perturbation and at every GD "
                  "epoch (max over epochs == 0)", seeds=seeds, dtype="float32", device=device)
    assert max(after) == 0.0 and max(worst) == 0.0, f"error after perturbation {after}, max over GD {worst}"


@pytest.mark.claim("LP17-SMALL", control=True)
def test_zero_error_check_rejects_large_noise(evidence, m_final, data, device):
    """Control: noise 1.0·S breaks zero train error right after the perturbation (the check can fail)."""
    base = m_final(0)[0]
    seeds = [claim_seed("LP17-SMALL", 100 + i) for i in range(2)]
    after = [error_and_loss(layerwise_noise(copy.deepcopy(base), LARGE_NOISE, "std", s), *data["train"],
                            calibrate_x=data["train"][0])[0] for s in seeds]
    evidence.record(measured={"train error right after 1.0·S noise": after},
                    criterion="check 'train error == 0 after perturbation' must reject", seeds=seeds, device=device)
    assert min(after) > 0.0, f"1.0·S noise kept zero train error: {after}"


def interpolation_curve(model_a, model_b, data):
    """Train/test error and train loss at 11 points of (1 - α) a + α b (BN recalibrated on the train set)."""
    rows = []
    for alpha in ALPHAS:
        model = interpolate(model_a, model_b, float(alpha))
        recalibrate_batchnorm(model, data["train"][0])
        train_err, train_loss = error_and_loss(model, *data["train"])
        test_err, _ = error_and_loss(model, *data["test"])
        rows.append({"alpha": float(alpha), "train_error": train_err, "train_loss": train_loss,
                     "test_error": test_err})
    return rows


def midpoint_excess(curve, key):
    """Error at α = 1/2 minus the mean of the endpoints' errors."""
    return curve[5][key] - (curve[0][key] + curve[-1][key]) / 2


@pytest.mark.claim("LP17-INTERP")
def test_midpoint_of_same_basin_models_is_no_worse(evidence, m_final, data, tier, device, report_figure_dir):
    runs, seeds = flat_runs(m_final, data, tier, FLAT_NOISE)
    curves = [interpolation_curve(runs[i][0], runs[j][0], data) for i, j in ((0, 1), (2, 3))]
    excess = {k: [midpoint_excess(c, f"{k}_error") for c in curves] for k in ("train", "test")}
    tol = {"train": 1 / len(data["train"][1]), "test": INTERP_TOL_TEST}
    evidence.record(
        measured={"midpoint - endpoint mean, train error": excess["train"],
                  "midpoint - endpoint mean, test error": excess["test"], "curves (pairs 0-1, 2-3)": curves},
        criterion=f"two pairs of 0.1·S perturbation runs: midpoint train error <= endpoint mean + "
                  f"{tol['train']:.4f} and midpoint test error <= endpoint mean + {tol['test']}",
        seeds=seeds, dtype="float32", device=device)
    _plot_curves(curves, report_figure_dir, "LP17-INTERP-same-basin.png", evidence)
    assert max(excess["train"]) <= tol["train"], f"train-error barrier in the same basin: {excess}"
    assert max(excess["test"]) <= tol["test"], f"test-error barrier in the same basin: {excess}"


@pytest.mark.claim("LP17-INTERP", control=True)
def test_independent_inits_show_a_barrier(evidence, m_final, data, device, report_figure_dir):
    """Models from independent inits: the midpoint is worse (a barrier), so the same-basin check rejects."""
    curve = interpolation_curve(m_final(0)[0], m_final(1)[0], data)
    excess = midpoint_excess(curve, "train_error")
    evidence.record(measured={"midpoint - endpoint mean, train error": excess, "curve": curve},
                    criterion=f"independent inits: midpoint train error > endpoint mean + {BARRIER} (the "
                              "same-basin check rejects)", seeds=[m_final(i)[2]["seed"] for i in (0, 1)],
                    device=device)
    _plot_curves([curve], report_figure_dir, "LP17-INTERP-independent.png", evidence)
    assert excess > BARRIER, f"no barrier between independent inits: midpoint excess {excess}"


def _plot_curves(curves, figure_dir, name, evidence):
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(4, 3))
    for i, c in enumerate(curves):
        ax.plot(ALPHAS, [r["train_error"] for r in c], "o-", label=f"train {i}")
        ax.plot(ALPHAS, [r["test_error"] for r in c], "s--", label=f"test {i}")
    ax.set_xlabel("alpha"), ax.set_ylabel("error"), ax.legend(fontsize=6)
    save_figure(fig, figure_dir, name, evidence)
    plt.close(fig)


def branched_runs(trained_net_recipe, data, tier):
    """Trunk SGD trajectory from a fresh init, and branches: noise c·S at split epoch s, then SGD on the
    trunk's batches to the trunk's last epoch. Returns (trunk snapshots, branches: dicts with the split,
    noise, flat weights right after the split, snapshots and final weights)."""
    key = ("branches",)
    if key in _Store.cache:
        return _Store.cache[key]
    from fixtures.recipes import make_model
    cfg = BRANCH[tier]
    recipe, seed = trained_net_recipe, claim_seed("LP17-MDS", 0)
    x, y = data["train"]
    model = make_model(recipe, seed).to(x.device)
    states, trunk = {0: copy.deepcopy(model.state_dict())}, [flat_weights(model)]

    def keep(epoch):
        states[epoch] = copy.deepcopy(model.state_dict())
        trunk.append(flat_weights(model))
    sgd_epochs(model, x, y, range(1, cfg["epochs"] + 1), cfg["lr"], cfg["batch"], seed, keep)
    plan = [(s, cfg["noise"]) for s in cfg["splits"]] + [(cfg["split_at"], c) for c in cfg["noises"]]
    branches = []
    for k, (split, noise) in enumerate(plan):
        branch = make_model(recipe, seed).to(x.device)
        branch.load_state_dict(states[split])
        layerwise_noise(branch, noise, "std", claim_seed("LP17-MDS", 1 + k))
        start, snaps = flat_weights(branch), []
        sgd_epochs(branch, x, y, range(split + 1, cfg["epochs"] + 1), cfg["lr"], cfg["batch"], seed,
                   lambda e: snaps.append(flat_weights(branch)))
        branches.append({"split": split, "noise": noise, "start": start, "snapshots": snaps,
                         "final": flat_weights(branch)})
    _Store.cache[key] = (trunk, branches)
    return trunk, branches


def _branch_statistics(trunk, branches, tier, key):
    """Per series: (x = epochs after split or noise size, y = distance to the trunk's end / |w_end|)."""
    cfg, end = BRANCH[tier], trunk[-1]
    series = {"split": [b for b in branches[:len(cfg["splits"])]], "noise": branches[len(cfg["splits"]):]}
    out = {}
    for name, bs in series.items():
        xs = [cfg["epochs"] - b["split"] if name == "split" else b["noise"] for b in bs]
        ys = [float((b[key] - end).norm() / end.norm()) for b in bs]
        rho, lo, hi = spearman_interval(xs, ys)
        p = spearman_permutation_pvalue(xs, ys, permutations=2000, seed=0, alternative="greater")
        out[name] = {"x": xs, "relative distance": ys, "spearman": rho, "interval": (lo, hi), "p (rho > 0)": p}
    return out


@pytest.mark.claim("LP17-MDS")
def test_earlier_or_larger_splits_end_farther_apart(evidence, trained_net, data, tier, device, report_figure_dir):
    from fixtures.recipes import recipe_for
    recipe = recipe_for(RECIPE, tier)
    trunk, branches = branched_runs(recipe, data, tier)
    stats = _branch_statistics(trunk, branches, tier, "final")
    # the picture: classical MDS of all snapshots with 1 - cosine dissimilarity (LP17 §4.2)
    points = [trunk] + [b["snapshots"] for b in branches]
    flat = torch.stack([w for run in points for w in run]).numpy()
    coords, eigenvalues = classical_mds(cosine_dissimilarity(flat), k=2)
    ends = np.cumsum([len(run) for run in points]) - 1
    mds_end_distance = [float(np.linalg.norm(coords[e] - coords[ends[0]])) for e in ends[1:]]
    cos_end = cosine_dissimilarity(np.stack([trunk[-1].numpy()] + [b["final"].numpy() for b in branches]))[0, 1:]
    rho_mds = spearman_interval(cos_end, mds_end_distance)[0]
    evidence.record(
        measured={"epochs after split -> distance": stats["split"], "noise size -> distance": stats["noise"],
                  "Spearman(1-cos of branch ends, their 2-D MDS distance)": rho_mds,
                  "MDS top eigenvalue share": float(eigenvalues[:2].sum() / np.clip(eigenvalues, 0, None).sum())},
        criterion="Spearman > 0 with permutation p < 0.05 (one-sided) between (a) epochs trained after the split "
                  "(6 branches, noise 0.1·S) and (b) the noise size (6 branches) and the final distance "
                  "|w_branch - w_trunk| / |w_trunk| at the trunk's last epoch",
        seeds=[claim_seed("LP17-MDS", k) for k in range(1 + len(branches))], dtype="float32", device=device)
    _plot_mds(coords, points, branches, report_figure_dir, evidence)
    for name in ("split", "noise"):
        assert stats[name]["spearman"] > 0 and stats[name]["p (rho > 0)"] < 0.05, f"{name}: {stats[name]}"


@pytest.mark.claim("LP17-MDS", control=True)
def test_split_time_check_rejects_distances_right_after_the_split(evidence, data, tier, device):
    """Control: right after the split (before training moves the branches) the distance is the injected
    noise, c·S per layer, which does not grow with earlier splits: the same check rejects."""
    from fixtures.recipes import recipe_for
    trunk, branches = branched_runs(recipe_for(RECIPE, tier), data, tier)
    cfg = BRANCH[tier]
    split_branches = branches[:len(cfg["splits"])]
    xs = [cfg["epochs"] - b["split"] for b in split_branches]
    ys = [float((b["start"] - trunk[b["split"]]).norm() / trunk[-1].norm()) for b in split_branches]
    rho = spearman_interval(xs, ys)[0]
    p = spearman_permutation_pvalue(xs, ys, permutations=2000, seed=0, alternative="greater")
    evidence.record(measured={"epochs after split": xs, "distance right after split": ys, "spearman": rho,
                              "p (rho > 0)": p},
                    criterion="check 'Spearman > 0, p < 0.05' must reject on distances right after the split",
                    device=device)
    assert not (rho > 0 and p < 0.05), f"distances right after the split already ordered: rho {rho}, p {p}"


def _plot_mds(coords, points, branches, figure_dir, evidence):
    plt = pyplot_or_none()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 4))
    start = 0
    for i, run in enumerate(points):
        xy = coords[start:start + len(run)]
        if i == 0:
            ax.plot(xy[:, 0], xy[:, 1], "k.-", lw=2, label="trunk")
        else:
            b = branches[i - 1]
            ax.plot(xy[:, 0], xy[:, 1], ".-", lw=0.8, label=f"split {b['split']}, {b['noise']}·S")
        start += len(run)
    ax.legend(fontsize=5), ax.set_title("classical MDS, 1 - cos")
    save_figure(fig, figure_dir, "LP17-MDS-branches.png", evidence)
    plt.close(fig)
