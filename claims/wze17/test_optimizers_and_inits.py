"""WZE17 Sec. 3: SGD is not the magic (Table 1), every random init converges to a good solution (Table 2),
and random initialization lands in good basins with probability ≈ 1 (Eq. (4)-(5)).

Settings (recipes in fixtures/recipes.py, inits in fixtures/inits.py): the CPU tier trains LeNet on the
first 128 MNIST training images and tests on the first 500 test images (Table 2, Eq. 5); Table 1 trains
mLeNet and LeNet on the first 512 (test: the first 2,000; no sNIN: too slow); the gpu/paper tiers carry the
paper's data sizes and epoch counts (lr/batch where the paper names none are ours).
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.inits import train_with_init
from fixtures.recipes import recipe_for
from losslab.seeds import claim_seed
from losslab.stats import clopper_pearson, mean_std, t_interval

RUNS = {"cpu": 3, "gpu": 6, "paper": 6}  # Table 2 seeds per setting (the paper: 6 runs)

# Table 1 ------------------------------------------------------------------------------------------------
TAB1_RUNS = {"cpu": 5, "gpu": 6, "paper": 6}  # seeds per optimizer (paper: 6; CPU: 5 for time), paired by seed
TAB1_MIN_TRAIN_ACC = 0.98  # fairness: both optimizers near interpolation, else the comparison is void
TAB1_PAPER = {"mlenet": ("mLeNet full batch %", "mLeNet mini batch %"),
              "lenet": ("LeNet full batch %", "LeNet mini batch %"), "snin": ("sNIN full batch %", "sNIN mini batch %")}
# gpu/paper tiers (the paper's accuracy level, ~98%): the gap in points, -1 <= mean < 2 (the paper's largest
# gap, 1.52 points for sNIN, rounded up). CPU tier (512 images, ~85% test accuracy: ~6x the paper's test
# error) compares scale-free: the fraction of GD's test error that SGD removes, r = (acc_SGD - acc_GD) /
# (1 - acc_GD) per seed; its 95% t interval must lie inside (-R, R), R = the paper's largest r
# (tab1_paper_max_relative_gap: sNIN (98.41 - 96.89) / (100 - 96.89) = 0.489; mLeNet 0.34, LeNet 0.01).
TAB1_MARGIN_POINTS = 2.0
TAB1_FLOOR_POINTS = -1.0
TAB1_STOPPED_GD_STEPS = 10  # the negative control: full-batch GD stopped far from interpolation


def _paper_mean(value: str) -> float:
    return float(str(value).split("±")[0])


def tab1_paper_max_relative_gap(paper_values) -> float:
    """max over Table 1's nets of (mini − full test %) / (100 − full test %), from the catalog's paper values."""
    gaps = []
    for full_key, mini_key in TAB1_PAPER.values():
        full, mini = _paper_mean(paper_values[full_key]), _paper_mean(paper_values[mini_key])
        gaps.append((mini - full) / (100.0 - full))
    return max(gaps)


def tab1_gap_check(sgd_test, gd_test, margin):
    """(passes, mean gap in points, 95% t interval) of the paired-by-index SGD − GD test %; passes iff
    TAB1_FLOOR_POINTS <= mean < margin (gpu/paper tiers)."""
    diff = 100.0 * (np.asarray(sgd_test) - np.asarray(gd_test))
    gap = float(diff.mean())
    return TAB1_FLOOR_POINTS <= gap < margin, gap, t_interval(diff)


def tab1_relative_gap_check(sgd_test, gd_test, margin):
    """(passes, mean r, 95% t interval of r), r = (acc_SGD − acc_GD) / (1 − acc_GD) per paired seed: the
    fraction of GD's test error SGD removes; passes iff the interval lies inside (−margin, margin)."""
    sgd, gd = np.asarray(sgd_test, dtype=float), np.asarray(gd_test, dtype=float)
    r = (sgd - gd) / (1.0 - gd)
    lo, hi = t_interval(r)
    return -margin < lo and hi < margin, float(r.mean()), (lo, hi)


def _tab1_runs(name, tier, device, data_dir, runs, epochs=None):
    from dataclasses import replace
    recipe = recipe_for(name, tier)
    if recipe is None:
        pytest.skip(f"{name} has no {tier!r}-tier recipe (sNIN: one CPU SGD run took 216 s): run with --tier gpu")
    if epochs is not None:
        recipe = replace(recipe, name=f"{name}-stopped", config=replace(recipe.config, epochs=epochs))
    return [train_with_init(recipe, recipe.init, claim_seed(recipe.seed_claim, i), tier, device, data_dir)[1]
            for i in range(runs)]


def _final(metrics, key):
    return [m["final"][key] for m in metrics]


def _pct(values):
    return "%.2f ± %.2f" % tuple(100 * np.array(mean_std(values)))


def test_tab1_checks_on_planted_pairs():
    """Known answers: the margin from Table 1's values, and planted (SGD, GD) test accuracies per seed."""
    table1 = {"mLeNet full batch %": "97.75 ± 0.24", "mLeNet mini batch %": "98.52 ± 0.13",
              "LeNet full batch %": "97.85 ± 0.05", "LeNet mini batch %": "97.87 ± 0.28",
              "sNIN full batch %": "96.89 ± 0.41", "sNIN mini batch %": "98.41 ± 0.17"}
    margin = tab1_paper_max_relative_gap(table1)
    assert margin == pytest.approx(1.52 / 3.11)  # sNIN
    gd = np.array([0.80, 0.84, 0.82, 0.86])
    removes = lambda r: gd + np.asarray(r) * (1 - gd)  # noqa: E731  SGD removing the fraction r of GD's error
    assert tab1_relative_gap_check(removes([0.1, 0.0, 0.2, 0.1]), gd, margin)[0]
    assert not tab1_relative_gap_check(removes([0.6] * 4), gd, margin)[0]  # mean beyond the margin
    assert not tab1_relative_gap_check(removes([-0.6] * 4), gd, margin)[0]  # SGD much worse
    ok, mean, (lo, hi) = tab1_relative_gap_check(removes([0.3, 0.5, 0.35, 0.45]), gd, margin)
    assert not ok and mean < margin < hi  # a mean inside is not enough: the interval must be
    assert tab1_gap_check(gd + 0.015, gd, TAB1_MARGIN_POINTS)[0]
    assert not tab1_gap_check(gd + 0.025, gd, TAB1_MARGIN_POINTS)[0]


@pytest.mark.claim("WZE17-TAB1")
@pytest.mark.parametrize("net", ["mlenet", "lenet", "snin"])
def test_sgd_beats_full_batch_only_by_small_margin(net, evidence, claim, tier, device, data_dir):
    gd = _tab1_runs(f"wze17-tab1-{net}-gd", tier, device, data_dir, TAB1_RUNS[tier])
    sgd = _tab1_runs(f"wze17-tab1-{net}-sgd", tier, device, data_dir, TAB1_RUNS[tier])
    gd_test, sgd_test = _final(gd, "test_acc"), _final(sgd, "test_acc")
    points_ok, gap, (lo, hi) = tab1_gap_check(sgd_test, gd_test, TAB1_MARGIN_POINTS)
    rel_margin = tab1_paper_max_relative_gap(claim.paper_values)
    rel_ok, rel, (rlo, rhi) = tab1_relative_gap_check(sgd_test, gd_test, rel_margin)
    if tier == "cpu":
        ok, criterion = rel_ok, (f"95% t interval of r = (acc_SGD − acc_GD) / (1 − acc_GD) inside "
                                 f"(−{rel_margin:.3f}, {rel_margin:.3f}) (the paper's largest r: sNIN)")
    else:
        ok, criterion = points_ok, f"{TAB1_FLOOR_POINTS} <= mean(SGD − GD test %) < {TAB1_MARGIN_POINTS} points"
    paper_gd, paper_sgd = (claim.paper_values[k] for k in TAB1_PAPER[net])
    evidence.record(
        measured={"full batch test %": _pct(gd_test), "mini batch test %": _pct(sgd_test),
                  "paper full / mini %": f"{paper_gd} / {paper_sgd}",
                  "full batch train %": _pct(_final(gd, "train_acc")), "mini batch train %": _pct(_final(sgd, "train_acc")),
                  "epochs full / mini": f"{[m['epochs_run'] for m in gd]} / {[m['epochs_run'] for m in sgd]}",
                  "gap (mini − full), points": round(gap, 2), "gap 95% t interval": (round(lo, 2), round(hi, 2)),
                  "relative gap r": round(rel, 3), "r 95% t interval": (round(rlo, 3), round(rhi, 3))},
        criterion=f"{net}: both optimizers end with train accuracy >= {TAB1_MIN_TRAIN_ACC:.0%} (fair comparison); "
                  f"{criterion}; {TAB1_RUNS[tier]} seeds paired by seed",
        seeds=[m["seed"] for m in gd + sgd],
        uncertainty=f"95% t intervals: gap [{lo:.2f}, {hi:.2f}] points, r [{rlo:.3f}, {rhi:.3f}]",
        dtype="float32", device=str(device), note=f"tier {tier}")
    assert min(_final(gd + sgd, "train_acc")) >= TAB1_MIN_TRAIN_ACC, (
        f"unfair comparison: train accuracies GD {_final(gd, 'train_acc')}, SGD {_final(sgd, 'train_acc')}")
    assert ok, (f"{net}: gap {gap:.2f} points (t interval [{lo:.2f}, {hi:.2f}]), r {rel:.3f} (t interval "
                f"[{rlo:.3f}, {rhi:.3f}]) fails: {criterion}")


@pytest.mark.claim("WZE17-TAB1", control=True)
def test_gap_check_rejects_gd_stopped_far_from_interpolation(evidence, claim, tier, device, data_dir):
    """Real large gap: the mLeNet GD runs stopped after TAB1_STOPPED_GD_STEPS full-batch steps against the
    SGD runs; the tier's gap check must reject it (as must the fairness condition)."""
    gd = _tab1_runs("wze17-tab1-mlenet-gd", tier, device, data_dir, TAB1_RUNS[tier], epochs=TAB1_STOPPED_GD_STEPS)
    sgd = _tab1_runs("wze17-tab1-mlenet-sgd", tier, device, data_dir, TAB1_RUNS[tier])
    gd_test, sgd_test = _final(gd, "test_acc"), _final(sgd, "test_acc")
    if tier == "cpu":
        ok, stat, interval = tab1_relative_gap_check(sgd_test, gd_test, tab1_paper_max_relative_gap(claim.paper_values))
    else:
        ok, stat, interval = tab1_gap_check(sgd_test, gd_test, TAB1_MARGIN_POINTS)
    evidence.record(measured={"stopped GD train %": _pct(_final(gd, "train_acc")), "stopped GD test %": _pct(gd_test),
                              "SGD test %": _pct(sgd_test), "gap statistic": round(stat, 3),
                              "95% t interval": tuple(round(v, 3) for v in interval)},
                    criterion=f"the tier's Table 1 gap check rejects GD stopped after {TAB1_STOPPED_GD_STEPS} steps",
                    seeds=[m["seed"] for m in gd + sgd], note=f"tier {tier}")
    assert min(_final(gd, "train_acc")) < TAB1_MIN_TRAIN_ACC, "stopped GD is already near interpolation"
    assert not ok, f"gap statistic {stat:.3f} (interval {interval}) was accepted"


# Table 2 ------------------------------------------------------------------------------------------------
# "Good solution": train accuracy >= 99% and test accuracy >= GOOD_TEST. The paper calls good > 95% test
# (Sec. 3.1); with 128 training images a good LeNet fit generalizes to roughly 60-75%, so the CPU tier asks
# for 50% (chance 10%): far above chance, far below the paper's 99%.
GOOD_TRAIN = 0.99
GOOD_TEST = {("lenet", "cpu"): 0.50, ("lenet", "gpu"): 0.95, ("lenet", "paper"): 0.95,
             ("resnet18", "gpu"): 0.70, ("resnet18", "paper"): 0.70}
TAB2_RECIPE = {"lenet": "wze17-tab2-lenet-mnist", "resnet18": "wze17-tab2-resnet18-cifar10"}
TAB2_INITS = {"he_normal": "N(0,2/fan_in)", "uniform_0_1": "U[0,1]", "uniform_0_0.1": "U[0,0.1]",
              "normal_0_0.1": "N(0,0.1)"}
TAB2_PAPER_KEY = {"lenet": "LeNet-MNIST", "resnet18": "ResNet-18-CIFAR-10"}
# Measured at the CPU tier (ReLU LeNet, inputs standardised, SGD lr 0.01): U[0,0.1] starts with logits of
# ~7e3 and U[0,1] far larger; the first steps kill every ReLU and the net predicts one class (13.7% train).
CPU_NOT_REPRODUCED = {"uniform_0_1", "uniform_0_0.1"}


def is_good(metrics, good_test):
    return metrics["final"].get("train_acc", 0.0) >= GOOD_TRAIN and metrics["final"].get("test_acc", 0.0) >= good_test


def _init_runs(recipe_name, init, tier, device, data_dir, runs, labels="true", first=0, epochs=None):
    from dataclasses import replace
    recipe = recipe_for(recipe_name, tier)
    if recipe is None:
        pytest.skip(f"{recipe_name} has no {tier!r}-tier recipe: run with --tier gpu")
    if epochs is not None:
        recipe = replace(recipe, name=f"{recipe_name}-{epochs}ep", config=replace(recipe.config, epochs=epochs))
    return [train_with_init(recipe, init, claim_seed(recipe.seed_claim, i), tier, device, data_dir, labels)[1]
            for i in range(first, first + runs)]


@pytest.mark.claim("WZE17-TAB2")
@pytest.mark.parametrize("net", ["lenet", "resnet18"])
@pytest.mark.parametrize("init", list(TAB2_INITS))
def test_every_init_converges_to_good_solution(init, net, evidence, claim, tier, device, data_dir, request):
    # CPU tier: 1 seed for the inits measured not to train there (each runs the full epoch cap: cost)
    n_runs = 1 if tier == "cpu" and init in CPU_NOT_REPRODUCED else RUNS[tier]
    runs = _init_runs(TAB2_RECIPE[net], init, tier, device, data_dir, n_runs)
    good_test = GOOD_TEST[(net, tier)]
    train, test = _final(runs, "train_acc"), _final(runs, "test_acc")
    fmt = lambda v: "%.2f ± %.2f" % tuple(100 * np.array(mean_std(v)))  # noqa: E731
    evidence.record(
        measured={"train %": fmt(train), "test %": fmt(test), "epochs": [m["epochs_run"] for m in runs],
                  "paper train/test %": claim.paper_values[f"{TAB2_PAPER_KEY[net]} {TAB2_INITS[init]} train/test %"]},
        criterion=f"{TAB2_INITS[init]}, {net}: every seed reaches train >= {GOOD_TRAIN:.0%} and test >= {good_test:.0%}",
        seeds=[m["seed"] for m in runs], uncertainty="mean ± std over seeds", dtype="float32",
        device=str(device), note=f"tier {tier}")
    if tier == "cpu" and init in CPU_NOT_REPRODUCED:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=(
            f"not reproduced at the CPU tier: {TAB2_INITS[init]} ReLU LeNet ends at train {fmt(train)}%, "
            f"test {fmt(test)}% (one-class predictor)")))
    bad = [(round(a, 3), round(b, 3)) for m, a, b in zip(runs, train, test) if not is_good(m, good_test)]
    assert not bad, f"{TAB2_INITS[init]}: seeds without a good solution (train, test): {bad}"


@pytest.mark.claim("WZE17-TAB2", control=True)
def test_good_solution_check_rejects_all_zero_init(evidence, tier, device, data_dir):
    """All-zero weights and biases: ReLU gradients vanish, training cannot leave the constant predictor
    (stopped after 2 epochs: cost; the gradients of all hidden layers are exactly 0, so more cannot help)."""
    runs = _init_runs("wze17-tab2-lenet-mnist", "zeros", tier, device, data_dir, 1, epochs=2)
    evidence.record(measured={"train %": 100 * runs[0]["final"]["train_acc"], "test %": 100 * runs[0]["final"]["test_acc"]},
                    criterion="the good-solution check rejects it", seeds=[runs[0]["seed"]])
    assert not is_good(runs[0], GOOD_TEST[("lenet", tier)])


# Eq. (4)-(5) --------------------------------------------------------------------------------------------
EQ5_RUNS = {"cpu": 10, "gpu": 12, "paper": 12}
# 10/10 successes give a two-sided 95% Clopper–Pearson lower bound of 0.692, 9/10 give 0.555: 0.65 demands
# that every CPU seed succeeds; at 12 seeds 12/12 give 0.735, 11/12 0.615.
EQ5_MIN_LOWER = 0.65


def eq5_check(runs, good_test):
    """(passes, successes, trials, Clopper–Pearson 95% interval) for the fraction of good solutions."""
    k = sum(is_good(m, good_test) for m in runs)
    lo, hi = clopper_pearson(k, len(runs))
    return lo >= EQ5_MIN_LOWER, k, len(runs), (lo, hi)


@pytest.mark.claim("WZE17-EQ5")
def test_random_inits_land_in_good_basins(evidence, tier, device, data_dir):
    runs = _init_runs("wze17-tab2-lenet-mnist", "he_normal", tier, device, data_dir, EQ5_RUNS[tier])
    ok, k, n, (lo, hi) = eq5_check(runs, GOOD_TEST[("lenet", tier)])
    evidence.record(measured={"good / runs": f"{k}/{n}", "test % per seed": [round(100 * t, 1) for t in _final(runs, "test_acc")]},
                    criterion=f"N(0,2/fan_in) LeNet inits: Clopper–Pearson 95% lower bound of P(good) >= {EQ5_MIN_LOWER} "
                              f"(good: train >= {GOOD_TRAIN:.0%}, test >= {GOOD_TEST[('lenet', tier)]:.0%})",
                    seeds=[m["seed"] for m in runs], uncertainty=f"95% CP interval [{lo:.3f}, {hi:.3f}]",
                    note=f"tier {tier}")
    assert ok, f"{k}/{n} good solutions, CP lower bound {lo:.3f} < {EQ5_MIN_LOWER}"


@pytest.mark.claim("WZE17-EQ5", control=True)
def test_good_basin_check_rejects_random_labels(evidence, tier, device, data_dir):
    """Same recipe and seeds, random training labels, stopped after 1 epoch (cost): the fraction is ~0."""
    runs = _init_runs("wze17-tab2-lenet-mnist", "he_normal", tier, device, data_dir, EQ5_RUNS[tier], labels="random",
                      epochs=1)
    ok, k, n, (lo, hi) = eq5_check(runs, GOOD_TEST[("lenet", tier)])
    evidence.record(measured={"good / runs": f"{k}/{n}", "CP interval": (round(lo, 3), round(hi, 3))},
                    criterion="the Eq. (5) check rejects it", seeds=[m["seed"] for m in runs])
    assert not ok, f"random labels: {k}/{n} good solutions accepted"
