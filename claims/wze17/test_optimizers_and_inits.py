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
from losslab.experiments.wze17.tables import good_fraction_verdict, is_good, margin_verdict, tab1_statistic
from losslab.seeds import claim_seed
from losslab.stats import mean_std

RUNS = {"cpu": 3, "gpu": 3, "paper": 6}  # Table 2 seeds per setting (the paper: 6 runs; gpu: nightly budget)

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
TAB2_RECIPE = {"lenet": "wze17-tab2-lenet-mnist", "resnet18": "wze17-tab2-resnet18-cifar10"}
TAB2_INITS = {"he_normal": "N(0,2/fan_in)", "uniform_0_1": "U[0,1]", "uniform_0_0.1": "U[0,0.1]",
              "normal_0_0.1": "N(0,0.1)"}
TAB2_PAPER_KEY = {"lenet": "LeNet-MNIST", "resnet18": "ResNet-18-CIFAR-10"}
UNIFORM_INITS = ("uniform_0_0.1", "uniform_0_1")  # Eq. (5)'s uniform P0
# Measured at the CPU tier (ReLU LeNet, inputs standardised, SGD lr 0.01): U[0,0.1] starts with logits of
# ~7e3 and U[0,1] far larger; the first steps kill every ReLU and the net predicts one class (13.7% train).
# A one-off probe (zero biases, lr 1e-3..1e-5) left U[0,0.1] at 7-16% train as well.
CPU_NOT_REPRODUCED = set(UNIFORM_INITS)


def _good_test_acc(claim, net, tier) -> float:
    return claim.threshold("good_test_acc_cpu" if tier == "cpu" else f"good_test_acc_{net}")


def _is_good(claim, net, tier, metrics) -> bool:
    return is_good(metrics["final"], claim.threshold("good_train_acc"), _good_test_acc(claim, net, tier))


def _init_runs(recipe_name, init, tier, device, data_dir, runs, first=0, epochs=None):
    from dataclasses import replace
    recipe = recipe_for(recipe_name, tier)
    if recipe is None:
        pytest.skip(f"not run at this tier: {recipe_name} has no {tier!r}-tier recipe: run with --tier gpu")
    if epochs is not None:
        recipe = replace(recipe, name=f"{recipe_name}-{epochs}ep", config=replace(recipe.config, epochs=epochs))
    return [train_with_init(recipe, init, claim_seed(recipe.seed_claim, i), tier, device, data_dir)[1]
            for i in range(first, first + runs)]


def _not_reproduced_reason(init, runs) -> str:
    return (f"not reproduced at the CPU tier: {TAB2_INITS[init]} ReLU LeNet ends at train "
            f"{_pct(_final(runs, 'train_acc'))}%, test {_pct(_final(runs, 'test_acc'))}% (one-class predictor)")


@pytest.mark.claim("WZE17-TAB2", parts=["{net}"])
@pytest.mark.parametrize("net", ["lenet", "resnet18"])
@pytest.mark.parametrize("init", list(TAB2_INITS))
def test_every_init_converges_to_good_solution(init, net, evidence, claim, tier, device, data_dir, request):
    runs = _init_runs(TAB2_RECIPE[net], init, tier, device, data_dir, RUNS[tier])
    good = [_is_good(claim, net, tier, m) for m in runs]
    evidence.headline(f"{TAB2_INITS[init]}: mean test accuracy", float(np.mean(_final(runs, "test_acc"))),
                      paper=claim.paper_values[f"{TAB2_PAPER_KEY[net]} {TAB2_INITS[init]} train/test %"])
    evidence.record(
        measured={"train %": _pct(_final(runs, "train_acc")), "test %": _pct(_final(runs, "test_acc")),
                  "epochs": [m["epochs_run"] for m in runs], "good": good},
        seeds=[m["seed"] for m in runs], uncertainty="mean ± std over seeds", dtype="float32",
        device=str(device), reduced="128 MNIST images, 500 test images, <= 20 epochs, 3 seeds" if tier == "cpu" else None)
    if tier == "cpu" and init in CPU_NOT_REPRODUCED:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=_not_reproduced_reason(init, runs)))
    assert all(good), f"{TAB2_INITS[init]}: seeds without a good solution: {good}"


@pytest.mark.claim("WZE17-TAB2", parts=["lenet"], control=True)
def test_good_solution_check_rejects_all_zero_init(evidence, claim, tier, device, data_dir):
    """All-zero weights and biases: ReLU gradients vanish, training cannot leave the constant predictor
    (stopped after 2 epochs: cost; the gradients of all hidden layers are exactly 0, so more cannot help)."""
    runs = _init_runs("wze17-tab2-lenet-mnist", "zeros", tier, device, data_dir, 1, epochs=2)
    evidence.record(removes="the random init: every parameter starts at 0", seeds=[runs[0]["seed"]])
    evidence.headline("all-zero init: test accuracy", runs[0]["final"]["test_acc"])
    assert not _is_good(claim, "lenet", tier, runs[0])


# Eq. (4)-(5) --------------------------------------------------------------------------------------------
EQ5_RUNS = {"cpu": 10, "gpu": 12, "paper": 12}  # N(0, 2/fan_in) seeds (runs 0..2 shared with TAB2)


def _eq5_part(runs, claim, tier, evidence) -> dict:
    """Record the Eq. (5) verdict of these runs (headline, power, interval) and return it."""
    result = good_fraction_verdict([_is_good(claim, "lenet", tier, m) for m in runs],
                                   claim.threshold("min_probability"), claim.threshold("confidence"))
    evidence.headline("fraction of inits reaching a good solution", result["good"] / result["runs"],
                      interval=result["interval"])
    evidence.power(detectable=1 - result["best_lower"], needed=1 - claim.threshold("min_probability"),
                   method=f"Clopper-Pearson lower bound with all {result['runs']} runs good")
    evidence.record(measured=result, seeds=[m["seed"] for m in runs],
                    reduced="128 MNIST images, 500 test images" if tier == "cpu" else None)
    if result["verdict"] == "inconclusive":
        evidence.inconclusive(f"Clopper-Pearson interval {result['interval']} straddles "
                              f"{claim.threshold('min_probability')}")
    return result


@pytest.mark.claim("WZE17-EQ5", parts=["uniform"])
def test_uniform_inits_land_in_good_basins(evidence, claim, tier, device, data_dir, request):
    """Eq. (5)'s uniform P0: the U[0,0.1] and U[0,1] runs of Table 2 (the same runs and check)."""
    runs = {init: _init_runs("wze17-tab2-lenet-mnist", init, tier, device, data_dir, RUNS[tier])
            for init in UNIFORM_INITS}
    if tier == "cpu":
        request.node.add_marker(pytest.mark.xfail(strict=True, reason="; ".join(
            _not_reproduced_reason(init, r) for init, r in runs.items())))
    result = _eq5_part([m for r in runs.values() for m in r], claim, tier, evidence)
    assert result["verdict"] != "refuted", result


@pytest.mark.claim("WZE17-EQ5", parts=["he_normal"])
def test_he_normal_inits_land_in_good_basins(evidence, claim, tier, device, data_dir):
    runs = _init_runs("wze17-tab2-lenet-mnist", "he_normal", tier, device, data_dir, EQ5_RUNS[tier])
    result = _eq5_part(runs, claim, tier, evidence)
    assert result["verdict"] != "refuted", result


@pytest.mark.claim("WZE17-EQ5", parts=["uniform", "he_normal"], control=True)
def test_good_basin_check_rejects_point_mass_at_zero(evidence, claim, tier, device, data_dir):
    """P0 = δ(0), the all-zero init (TAB2's control run, repeated EQ5_RUNS times it is the same run): every
    init is in the constant predictor's basin, so the check must refute P(good) >= min_probability."""
    run = _init_runs("wze17-tab2-lenet-mnist", "zeros", tier, device, data_dir, 1, epochs=2)[0]
    result = good_fraction_verdict([_is_good(claim, "lenet", tier, run)] * EQ5_RUNS[tier],
                                   claim.threshold("min_probability"), claim.threshold("confidence"))
    evidence.record(removes="the randomness of P0: the point mass at 0 (all-zero init)", measured=result)
    evidence.headline("fraction of zero inits reaching a good solution", result["good"] / result["runs"],
                      interval=result["interval"])
    assert result["verdict"] == "refuted", result
