"""NMH19 Sec. 4 (Tables 1-2) and the "rand" remark (Sec. 3 end, Sec. 4): sigmoid nets fail to train, the same
nets with N random hidden neurons wired to the output (skip-networks) train to zero training error and
generalize, and fitting only the output weights V on the random features Phi(U) interpolates but generalizes
worse, and worse as the network grows (VGG11 -> VGG13 / VGG16).

Setting per tier (recipes nmh19-tab1-* and nmh19-tab2-* in fixtures/recipes.py):
- cpu: the paper's nets reduced in width (every conv's channels x 1/16, same depth; VGG keeps its 128-wide FC),
  sigmoid. Table 1: CNN13 on the first 128 MNIST images, N = 512 skip neurons; Table 2: VGG11 on 512 of the
  shipped CIFAR-10 test images (cifar10-testsplit), N = 2,048 (N = 4n >= n, Assumption 3.1); 1,000 test
  images each. SGD + Nesterov 0.9, batch 32, lr 0.1 / 0.05 (MNIST / CIFAR), at most 60 / 100 epochs, lr / 10
  at 50% and 75%, skip nets stopping at 100% train accuracy. RAND's grown nets: VGG13 and VGG16, same width.
  3 runs = 3 skip subsets and inits (rand "grows": 8).
- gpu / paper: CNN13 (MNIST, 55,000 images) and VGG11 / VGG13 / VGG16 (CIFAR-10), full width, sigmoid,
  N = training-set size, lr 0.01, 30 (gpu) / 300 (paper) epochs.
rand = the skip net at its init U (the same U and skip subset as the SGD run of that index), V the ridge
solution for one-hot targets (losslab.probes.random_features; ridge 1e-6 x mean squared feature-row norm):
the dual closed form up to MAX_RAND_TRAIN images, conjugate gradients on the normal equations with features
streamed batch by batch above (gpu / paper: n = 50,000). The paper fits V by SGD on the convex problem
instead; all pick a zero-error V.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from fixtures.recipes import make_model, recipe_for
from losslab.probes.random_features import fit_random_features, fit_random_features_streamed
from losslab.seeds import claim_seed
from losslab.stats import mean_std, t_interval
from losslab.train.trainer import evaluate

RUNS = 3  # skip subsets (paper: 8)
RAND_RUNS = 8  # rand costs one forward pass: the paper's 8 subsets
FAILS_MAX_ACC = 0.2  # "fails to train": train accuracy at most 2x chance (a constant predictor: the majority class)
TRAINS_MIN_ACC = 0.99  # "trains": 95% t lower bound of the mean train accuracy
SKIP_TEST_MIN = {"cpu": 0.4, "gpu": 0.95, "paper": 0.974}  # TAB1 skip test accuracy lower bound (paper: 98.40)
RIDGE_REL = 1e-6
MAX_RAND_TRAIN = 8192  # the dual ridge solve holds an n x n Gram matrix; above it, streamed CG
RAND_CG_ITERS = 200  # measured at the CPU tier: 50 CG steps already interpolate (residual 1e-2), 764 reach 1e-8

TAB1_PLAIN, TAB1_SKIP = "nmh19-tab1-sigmoid-mnist", "nmh19-tab1-sigmoid-skip-mnist"
TAB2_PLAIN, TAB2_SKIP = "nmh19-tab2-vgg11-sigmoid-cifar10", "nmh19-tab2-vgg11-sigmoid-skip-cifar10"
TAB2_SKIP_GROWN = ("nmh19-tab2-vgg13-sigmoid-skip-cifar10", "nmh19-tab2-vgg16-sigmoid-skip-cifar10")
_RAND_CACHE: dict[tuple, tuple[float, float]] = {}  # (recipe, tier, run, device) -> (train, test acc)


def _accuracies(trained_net, name: str, runs: int = RUNS) -> tuple[list[float], list[float], list[int]]:
    """(train accuracies, test accuracies, seeds) of runs 0..runs-1 of a recipe (last epoch)."""
    train, test, seeds = [], [], []
    for run in range(runs):
        _, metrics = trained_net(name, run)
        train.append(metrics["final"]["train_acc"])
        test.append(metrics["final"]["test_acc"])
        seeds.append(metrics["seed"])
    return train, test, seeds


def _rand_accuracies(name: str, tier: str, recipe_data_for, runs: int, device: str = "cpu",
                     first: int = 0, skip_neurons: int | None = None) -> tuple[list[float], list[float], list[int]]:
    """(train, test accuracies, seeds) of the rand fit on the recipe's network at init, runs first..first+runs-1;
    skip_neurons overrides the recipe's N (negative controls)."""
    recipe = recipe_for(name, tier)
    if recipe is None:
        pytest.skip(f"recipe {name!r} has no {tier!r}-tier version")
    if skip_neurons is not None:
        recipe = replace(recipe, skip_neurons=skip_neurons)
    data = recipe_data_for(name)
    train, test, seeds = [], [], []
    for run in range(first, first + runs):
        seed = claim_seed(recipe.seed_claim, run)
        key = (recipe, tier, run, str(device))
        if key not in _RAND_CACHE:
            model = make_model(recipe, seed).to(device)
            x, y = data["train"].x, data["train"].y
            if recipe.n_train <= MAX_RAND_TRAIN:
                model = fit_random_features(model, x, y, RIDGE_REL)
            else:
                model, _ = fit_random_features_streamed(model, x, y, RIDGE_REL, max_iters=RAND_CG_ITERS)
            _RAND_CACHE[key] = (evaluate(model, data["train"], device=device)[1],
                                evaluate(model, data["test"], device=device)[1])
        train.append(_RAND_CACHE[key][0])
        test.append(_RAND_CACHE[key][1])
        seeds.append(seed)
    return train, test, seeds


def _fails_to_train(train_accs: list[float]) -> bool:
    """The "fails to train" check: every run ends at most FAILS_MAX_ACC train accuracy."""
    return max(train_accs) <= FAILS_MAX_ACC


def _paired_lower(a: list[float], b: list[float]) -> float:
    """95% t lower bound of mean(a - b) over paired runs."""
    return t_interval([x - y for x, y in zip(a, b)])[0]


def _summary(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{100 * mean:.2f} ± {100 * std:.2f}%"


# ---- Table 1 -------------------------------------------------------------------------------------------

@pytest.mark.claim("NMH19-TAB1")
def test_tab1_sigmoid_plain_fails_skip_trains_and_generalizes(evidence, trained_net, tier):
    plain_train, plain_test, plain_seeds = _accuracies(trained_net, TAB1_PLAIN)
    skip_train, skip_test, skip_seeds = _accuracies(trained_net, TAB1_SKIP)
    train_lo, test_lo = t_interval(skip_train)[0], t_interval(skip_test)[0]
    evidence.record(
        measured={"plain train acc": plain_train, "plain test %": _summary(plain_test),
                  "skip train acc": skip_train, "skip test %": _summary(skip_test),
                  "skip epochs run": [trained_net(TAB1_SKIP, r)[1]["epochs_run"] for r in range(RUNS)]},
        uncertainty={"skip train acc 95% t lower": train_lo, "skip test acc 95% t lower": test_lo},
        criterion=f"plain: every run train acc <= {FAILS_MAX_ACC}; skip: 95% t lower bound of mean train acc >= "
                  f"{TRAINS_MIN_ACC} and of mean test acc >= {SKIP_TEST_MIN[tier]} ({RUNS} skip subsets)",
        seeds=plain_seeds + skip_seeds, dtype="float32", device=str(trained_net(TAB1_SKIP, 0)[0].skip.weight.device),
        note=f"tier {tier}; paper (CNN13, 55k images, 300 epochs): plain 11.35%, skip 98.40 ± 0.07%")
    assert _fails_to_train(plain_train), f"plain sigmoid net trained: train acc {plain_train}"
    assert train_lo >= TRAINS_MIN_ACC, f"skip net did not train: train acc {skip_train}"
    assert test_lo >= SKIP_TEST_MIN[tier], f"skip net test acc {skip_test}, t lower {test_lo:.3f}"


def _check_zero_training_error(evidence, trained_net, name: str, tier: str) -> None:
    """Every skip-SGD run of recipe `name` ends at train accuracy 1.0 (evidence: accuracies, epochs run)."""
    skip_train, _, seeds = _accuracies(trained_net, name)
    evidence.record(measured={"skip-SGD train acc": skip_train,
                              "epochs run": [trained_net(name, r)[1]["epochs_run"] for r in range(RUNS)]},
                    criterion="every run ends at train acc 1.0", seeds=seeds, dtype="float32", note=f"tier {tier}")
    assert min(skip_train) == 1.0, f"skip-SGD train acc {skip_train}"


@pytest.mark.claim("NMH19-TAB1")
def test_tab1_skip_sgd_reaches_zero_training_error(evidence, trained_net, tier):
    _check_zero_training_error(evidence, trained_net, TAB1_SKIP, tier)


@pytest.mark.claim("NMH19-TAB1", control=True)
def test_tab1_checks_reject_the_wrong_nets(evidence, trained_net):
    # the "fails to train" check on nets that did train (skip) and the zero-error check on the plain nets
    skip_train, _, seeds = _accuracies(trained_net, TAB1_SKIP)
    plain_train, _, plain_seeds = _accuracies(trained_net, TAB1_PLAIN)
    evidence.record(measured={"skip train acc": skip_train, "plain train acc": plain_train},
                    seeds=seeds + plain_seeds,
                    criterion=f"check 'every run train acc <= {FAILS_MAX_ACC}' is False on the skip nets and "
                              "check 'every run train acc 1.0' is False on the plain nets")
    assert not _fails_to_train(skip_train)
    assert not min(plain_train) == 1.0


# ---- Table 2 -------------------------------------------------------------------------------------------

@pytest.mark.claim("NMH19-TAB2")
def test_tab2_sigmoid_plain_at_chance_skip_sgd_beats_rand(evidence, trained_net, recipe_data_for, tier, device):
    plain_train, plain_test, plain_seeds = _accuracies(trained_net, TAB2_PLAIN)
    skip_train, skip_test, seeds = _accuracies(trained_net, TAB2_SKIP)
    _, rand_test, _ = _rand_accuracies(TAB2_SKIP, tier, recipe_data_for, RUNS, device)  # same U and subsets as SGD
    fit_lo, gap_lo = _paired_lower(skip_train, plain_train), _paired_lower(skip_test, rand_test)
    evidence.record(
        measured={"plain train acc": plain_train, "plain test %": _summary(plain_test),
                  "skip-rand test %": _summary(rand_test), "skip-SGD test %": _summary(skip_test),
                  "skip-SGD train acc": skip_train},
        uncertainty={"skip-SGD - plain train acc 95% t lower (paired)": fit_lo,
                     "SGD - rand test acc 95% t lower (paired)": gap_lo},
        criterion=f"plain: every run train and test acc <= {FAILS_MAX_ACC}; 95% paired t lower bounds of "
                  f"skip-SGD - plain train acc and of skip-SGD - skip-rand test acc both > 0 ({RUNS} runs)",
        seeds=plain_seeds + seeds, dtype="float32",
        note=f"tier {tier}; paper VGG11 sigmoid C-10: plain 10, rand 62.81 ± 0.39, SGD 72.51 ± 0.35")
    assert _fails_to_train(plain_train) and max(plain_test) <= FAILS_MAX_ACC, f"plain: {plain_train}, {plain_test}"
    assert fit_lo > 0, f"skip-SGD train acc {skip_train} not above plain {plain_train}"
    assert gap_lo > 0, f"skip-SGD test {skip_test} not above rand {rand_test} (paired t lower {gap_lo:.3f})"


@pytest.mark.claim("NMH19-TAB2")
def test_tab2_skip_sgd_reaches_zero_training_error(evidence, trained_net, tier):
    _check_zero_training_error(evidence, trained_net, TAB2_SKIP, tier)


@pytest.mark.claim("NMH19-TAB2", control=True)
def test_tab2_beats_check_rejects_rand_against_rand(evidence, recipe_data_for, tier, device):
    # the paired "A beats B" check on two independent rand draws (runs 0-2 vs 3-5) of the same recipe
    _, rand_test, seeds = _rand_accuracies(TAB2_SKIP, tier, recipe_data_for, 2 * RUNS, device)
    gap_lo = _paired_lower(rand_test[:RUNS], rand_test[RUNS:])
    evidence.record(measured={"rand test acc": rand_test, "paired t lower": gap_lo}, seeds=seeds,
                    criterion="paired 95% t lower bound of rand(runs 0-2) - rand(runs 3-5) is not > 0")
    assert not gap_lo > 0


# ---- rand: zero training error, worse than SGD, worse as the net grows ------------------------------------

@pytest.mark.claim("NMH19-RAND")
def test_rand_interpolates_but_tests_below_skip_sgd(evidence, trained_net, recipe_data_for, tier, device):
    rows, seeds, lows = {}, [], {}
    for label, name in (("MNIST", TAB1_SKIP), ("CIFAR-10", TAB2_SKIP)):
        rand_train, rand_test, rand_seeds = _rand_accuracies(name, tier, recipe_data_for, RUNS, device)
        _, sgd_test, _ = _accuracies(trained_net, name)
        lows[label] = _paired_lower(sgd_test, rand_test)
        rows[label] = {"rand train acc": rand_train, "rand test %": _summary(rand_test),
                       "skip-SGD test %": _summary(sgd_test), "SGD - rand paired t lower": lows[label]}
        seeds += rand_seeds
        assert min(rand_train) == 1.0, f"{label}: rand train acc {rand_train}"
    evidence.record(measured=rows, seeds=seeds, dtype="float64 fit, float32 net",
                    criterion="rand: every run train acc 1.0; paired 95% t lower bound of skip-SGD - rand test acc "
                              f"> 0 on MNIST and CIFAR-10 ({RUNS} runs, same U and skip subset per run)")
    for label, low in lows.items():
        assert low > 0, f"{label}: {rows[label]}"


@pytest.mark.claim("NMH19-RAND")
def test_rand_tests_worse_as_the_network_grows(evidence, recipe_data_for, tier, device):
    _, small, seeds = _rand_accuracies(TAB2_SKIP, tier, recipe_data_for, RAND_RUNS, device)
    measured, intervals = {"rand test % VGG11": _summary(small)}, {}
    for name in TAB2_SKIP_GROWN:
        net = recipe_for(name, tier).net.upper()
        _, grown, _ = _rand_accuracies(name, tier, recipe_data_for, RAND_RUNS, device)
        measured[f"rand test % {net}"] = _summary(grown)
        intervals[f"VGG11 - {net}"] = t_interval([a - b for a, b in zip(small, grown)])
    evidence.record(measured=measured, uncertainty={f"{k} 95% t interval (paired)": v for k, v in intervals.items()},
                    seeds=seeds, criterion=f"95% t lower bounds of mean(VGG11 - VGG13) and mean(VGG11 - VGG16) rand "
                                           f"test acc both > 0 ({RAND_RUNS} runs, run i of each net from seed i)",
                    note=f"tier {tier}; paper rand VGG11 62.81 > VGG13 61.50, VGG16 61.57")
    for label, (lo, _) in intervals.items():
        assert lo > 0, f"rand not worse for the grown net: {label} interval {intervals[label]}, {measured}"


@pytest.mark.claim("NMH19-RAND", control=True)
def test_rand_checks_reject_too_few_features_and_same_net_draws(evidence, recipe_data_for, tier, device):
    # zero-error check on a rand fit with N = n / 4 < n skip neurons (Lemma 3.2 needs N >= n: no interpolation);
    # "worse as the net grows" check on VGG11 runs 0-7 against VGG11 runs 8-15 (the same net): must not fire
    n = recipe_for(TAB2_SKIP, tier).n_train
    few_train, _, few_seeds = _rand_accuracies(TAB2_SKIP, tier, recipe_data_for, RUNS, device, skip_neurons=n // 4)
    _, first, seeds = _rand_accuracies(TAB2_SKIP, tier, recipe_data_for, RAND_RUNS, device)
    _, second, more_seeds = _rand_accuracies(TAB2_SKIP, tier, recipe_data_for, RAND_RUNS, device, first=RAND_RUNS)
    same_lo = _paired_lower(first, second)
    evidence.record(measured={f"rand train acc, N = {n // 4}": few_train, "VGG11 - VGG11 paired t lower": same_lo},
                    seeds=few_seeds + seeds + more_seeds,
                    criterion="check 'every run train acc 1.0' is False with N = n/4; paired 95% t lower bound of "
                              "rand(runs 0-7) - rand(runs 8-15) of the same net is not > 0")
    assert not min(few_train) == 1.0
    assert not same_lo > 0
