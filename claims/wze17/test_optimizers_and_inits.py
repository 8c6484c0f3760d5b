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
from losslab.experiments.wze17.tables import margin_verdict, tab1_statistic
from losslab.seeds import claim_seed
from losslab.stats import clopper_pearson, mean_std

RUNS = {"cpu": 3, "gpu": 6, "paper": 6}  # Table 2 seeds per setting (the paper: 6 runs)

# Table 1 ------------------------------------------------------------------------------------------------
TAB1_RUNS = {"cpu": 5, "gpu": 6, "paper": 6}  # seeds per optimizer (paper: 6; CPU: 5 for time), paired by seed
TAB1_PAPER = {"mlenet": ("mLeNet full batch %", "mLeNet mini batch %"),
              "lenet": ("LeNet full batch %", "LeNet mini batch %"), "snin": ("sNIN full batch %", "sNIN mini batch %")}
TAB1_STOPPED_GD_STEPS = 10  # the negative control: full-batch GD stopped far from interpolation


def _paper_mean(value: str) -> float:
    return float(str(value).split("±")[0])


def _tab1_runs(name, tier, device, data_dir, runs, epochs=None):
    from dataclasses import replace
    recipe = recipe_for(name, tier)
    if recipe is None:
        pytest.skip(f"not run at this tier: {name} has no {tier!r}-tier recipe (sNIN: one CPU SGD run took "
                    f"216 s): run with --tier gpu")
    if epochs is not None:
        recipe = replace(recipe, name=f"{name}-stopped", config=replace(recipe.config, epochs=epochs))
    return [train_with_init(recipe, recipe.init, claim_seed(recipe.seed_claim, i), tier, device, data_dir)[1]
            for i in range(runs)]


def _final(metrics, key):
    return [m["final"][key] for m in metrics]


def _pct(values):
    return "%.2f ± %.2f" % tuple(100 * np.array(mean_std(values)))


def _tab1_margin(claim, net, tier) -> float:
    """The net's own paper gap: relative r at the cpu tier (~85% test accuracy), points at gpu/paper."""
    return claim.threshold(f"{net}_relative_gap" if tier == "cpu" else f"{net}_gap_points")


@pytest.mark.claim("WZE17-TAB1", parts=["{net}"])
@pytest.mark.parametrize("net", ["mlenet", "lenet", "snin"])
def test_sgd_beats_full_batch_only_by_small_margin(net, evidence, claim, tier, device, data_dir):
    gd = _tab1_runs(f"wze17-tab1-{net}-gd", tier, device, data_dir, TAB1_RUNS[tier])
    sgd = _tab1_runs(f"wze17-tab1-{net}-sgd", tier, device, data_dir, TAB1_RUNS[tier])
    gd_test, sgd_test = _final(gd, "test_acc"), _final(sgd, "test_acc")
    relative = tier == "cpu"
    result = margin_verdict(tab1_statistic(sgd_test, gd_test, relative), _tab1_margin(claim, net, tier),
                            claim.threshold("confidence"))
    paper_gd, paper_sgd = (_paper_mean(claim.paper_values[k]) for k in TAB1_PAPER[net])
    paper = (paper_sgd - paper_gd) / (100 - paper_gd) if relative else paper_sgd - paper_gd
    evidence.headline("r = share of GD's test error SGD removes" if relative else "SGD − GD test accuracy (points)",
                      result["mean"], interval=result["interval"], paper=paper)
    evidence.power(detectable=result["half_width"], needed=result["margin"],
                   method=f"half-width of the 95% t interval over {result['n']} paired seeds")
    evidence.record(
        measured={"full batch test %": _pct(gd_test), "mini batch test %": _pct(sgd_test),
                  "full batch train %": _pct(_final(gd, "train_acc")), "mini batch train %": _pct(_final(sgd, "train_acc")),
                  "epochs full / mini": f"{[m['epochs_run'] for m in gd]} / {[m['epochs_run'] for m in sgd]}",
                  **result},
        seeds=[m["seed"] for m in gd + sgd], dtype="float32", device=str(device),
        reduced="first 512 MNIST images, 2,000 test images, batch 32, 5 seeds, no sNIN" if relative else None)
    assert min(_final(gd + sgd, "train_acc")) >= claim.threshold("min_train_acc"), (
        f"unfair comparison: train accuracies GD {_final(gd, 'train_acc')}, SGD {_final(sgd, 'train_acc')}")
    if result["verdict"] == "straddles":
        evidence.inconclusive(f"the 95% t interval {result['interval']} straddles the margin ±{result['margin']}")
        return
    assert result["verdict"] == "inside", result


@pytest.mark.claim("WZE17-TAB1", parts=["mlenet"], control=True)
def test_gap_check_rejects_gd_stopped_far_from_interpolation(evidence, claim, tier, device, data_dir):
    """Real large gap: the mLeNet GD runs stopped after TAB1_STOPPED_GD_STEPS full-batch steps against the
    SGD runs; the fairness condition and the tier's gap check must reject it."""
    gd = _tab1_runs("wze17-tab1-mlenet-gd", tier, device, data_dir, TAB1_RUNS[tier], epochs=TAB1_STOPPED_GD_STEPS)
    sgd = _tab1_runs("wze17-tab1-mlenet-sgd", tier, device, data_dir, TAB1_RUNS[tier])
    result = margin_verdict(tab1_statistic(_final(sgd, "test_acc"), _final(gd, "test_acc"), tier == "cpu"),
                            _tab1_margin(claim, "mlenet", tier), claim.threshold("confidence"))
    evidence.record(removes=f"training to interpolation: GD stopped after {TAB1_STOPPED_GD_STEPS} steps",
                    measured={"stopped GD train %": _pct(_final(gd, "train_acc")), **result},
                    seeds=[m["seed"] for m in gd + sgd])
    evidence.headline("gap statistic, GD stopped early", result["mean"], interval=result["interval"])
    assert min(_final(gd, "train_acc")) < claim.threshold("min_train_acc"), "stopped GD is already near interpolation"
    assert result["verdict"] != "inside", result


@pytest.mark.claim("WZE17-TAB1", parts=["{net}"], control=True)
@pytest.mark.parametrize("net", ["mlenet", "lenet", "snin"])
def test_gap_check_rejects_planted_gap_just_outside_margin(net, evidence, claim, tier):
    """Planted per-seed gaps at 1.2× the net's margin (spread 2% of it): rejected; at 0.5× it: accepted."""
    margin = _tab1_margin(claim, net, tier)
    jitter = np.linspace(-1, 1, TAB1_RUNS[tier]) * margin / 50
    outside = margin_verdict(1.2 * margin + jitter, margin, claim.threshold("confidence"))
    inside = margin_verdict(0.5 * margin + jitter, margin, claim.threshold("confidence"))
    evidence.record(removes="a small gap: a planted gap 20% beyond the paper's", measured={"outside": outside,
                                                                                          "inside": inside})
    evidence.headline("planted gap / margin", outside["mean"] / margin, interval=tuple(v / margin for v in
                                                                                      outside["interval"]))
    assert outside["verdict"] == "outside" and inside["verdict"] == "inside", (outside, inside)


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
