"""NMH19 Sec. 4, Tables 1-2, and the "rand" remark (Sec. 3 end): every table cell is a part; plain sigmoid nets fail
to train, skip-networks (N random hidden neurons wired to the output) reach zero training error and generalize, and
rand (only V fitted on the random features at init) interpolates but generalizes worse, and worse as the net grows.

Cells, recipes and the rand fit: losslab.experiments.nmh19 and the NMH19 section of fixtures/recipes.py (settings
per tier there). The cpu tier runs CNN13 and VGG11 (C-10) reduced in width and data; the rest is not run there.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from fixtures.recipes import NMH19_RUNS, RECIPES, make_model, recipe_for
from losslab.experiments import nmh19
from losslab.seeds import claim_seed
from losslab.stats import paired_t_interval, t_interval

TABLE1_PARTS = [c.part for c in nmh19.CELLS if c.table == 1]
TABLE2_PARTS = [c.part for c in nmh19.CELLS if c.table == 2]
REDUCED = {"cpu": "sigmoid CNN13 / VGG11 conv channels x 1/16; 128 MNIST / 512 CIFAR-10 (test split) images, "
                  "N = 4n (rand: N = n); CIFAR-10 standardized with PyTorch's init (paper: raw, keras init); "
                  "60 / 100 epochs at lr 0.1 / 0.05 instead of 300 at 0.01; 3 skip subsets (paper 8)",
           "gpu": "30 epochs instead of 300; 3 skip subsets (paper 8)"}


def _cell_or_skip(part: str, tier: str) -> nmh19.Cell:
    cell = nmh19.cell(part)
    at_tier = {name for name, tiers in RECIPES.items() if tier in tiers}
    if not nmh19.runs_at(cell, tier, at_tier):
        pytest.skip(f"not run at this tier ({tier}): no {tier} recipe for {part} (settings: fixtures/recipes.py)")
    return cell


def _rand(name: str, tier: str, recipe_data_for, device, runs: int, first: int = 0, skip_neurons=None,
          diagnose: bool = False) -> dict:
    """rand accuracies of runs first..first+runs-1 of recipe `name` (its net at init; skip_neurons overrides N)."""
    recipe = recipe_for(name, tier)
    if skip_neurons is not None:
        recipe = replace(recipe, skip_neurons=skip_neurons)
    seeds = [claim_seed(recipe.seed_claim, run) for run in range(first, first + runs)]
    return nmh19.rand_accuracies((recipe, tier, str(device)), lambda s: make_model(recipe, s).to(device),
                                 recipe_data_for(name), seeds, diagnose)


def _check_cell(cell: nmh19.Cell, claim, evidence, trained_net, recipe_data_for, tier, device) -> None:
    """The criterion of one Table 1/2 cell (the claim's TOML): fails / trains / zero error / rand below SGD."""
    fails_max, trains_min = claim.threshold("fails_max_acc"), claim.threshold("trains_min_acc")
    runs = NMH19_RUNS[tier]
    sgd = nmh19.trained_accuracies(trained_net, cell.recipe, runs)
    acc = _rand(cell.recipe, tier, recipe_data_for, device, runs) if cell.variant == "rand" else sgd
    lo, hi = t_interval(acc["test"])
    evidence.headline(f"{cell.part} test accuracy", sum(acc["test"]) / runs, interval=(lo, hi),
                      paper=cell.paper_acc)
    evidence.record(measured={"train acc": acc["train"], "test %": nmh19.summary(acc["test"]),
                              "epochs run": sgd["epochs"]}, seeds=acc["seeds"], reduced=REDUCED.get(tier))
    if tier == "paper":
        tolerance = claim.threshold("paper_tolerance")
        assert lo <= cell.paper_acc + tolerance and hi >= cell.paper_acc - tolerance, (lo, hi)
    if cell.variant == "plain" and cell.paper_acc <= fails_max:
        assert max(acc["train"]) <= fails_max and max(acc["test"]) <= fails_max, acc
        return
    if cell.variant == "plain" or cell.augmented:
        assert t_interval(acc["train"])[0] >= trains_min, acc
        return
    assert min(acc["train"]) == 1, f"not zero training error: {acc['train']}"
    if cell.variant == "sgd":
        assert lo > fails_max, f"skip-SGD test acc {acc['test']} within the chance band"
        return
    _check_rand_below_sgd(claim, evidence, sgd["test"], acc["test"])


def _check_rand_below_sgd(claim, evidence, sgd: list, rand: list) -> None:
    """Paired 95% t lower bound of skip-SGD - rand test acc > 0; power against sgd_rand_gap_needed; inconclusive
    when either side is within the chance band (<= fails_max_acc): then it says nothing about generalization."""
    runs, fails_max = len(sgd), claim.threshold("fails_max_acc")
    diffs = [a - b for a, b in zip(sgd, rand)]
    lo, hi = t_interval(diffs)
    evidence.record(measured={"rand test %": nmh19.summary(rand), "skip-SGD test %": nmh19.summary(sgd),
                              "SGD - rand 95% t interval (paired)": (lo, hi)})
    needed = claim.threshold("sgd_rand_gap_needed")
    evidence.power(detectable=nmh19.detectable_gap(diffs, needed), needed=needed,
                   method=f"gap planted on the measured paired spread, 95% t rule, {runs} runs")
    if min(sum(rand), sum(sgd)) / runs <= fails_max:
        evidence.inconclusive(f"rand {nmh19.summary(rand)} or skip-SGD {nmh19.summary(sgd)} within the chance band "
                              f"(<= {fails_max}): not a test of generalization")
        return
    assert lo > 0, f"skip-SGD {sgd} not above rand {rand}"


@pytest.mark.claim("NMH19-TAB1", parts=["{part}"])
@pytest.mark.parametrize("part", TABLE1_PARTS)
def test_table1_cell(part, claim, evidence, trained_net, recipe_data_for, tier, device):
    _check_cell(_cell_or_skip(part, tier), claim, evidence, trained_net, recipe_data_for, tier, device)


@pytest.mark.claim("NMH19-TAB2", parts=["{part}"])
@pytest.mark.parametrize("part", TABLE2_PARTS)
def test_table2_cell(part, claim, evidence, trained_net, recipe_data_for, tier, device):
    _check_cell(_cell_or_skip(part, tier), claim, evidence, trained_net, recipe_data_for, tier, device)


@pytest.mark.claim("NMH19-TAB1", parts=["cnn13-sigmoid-mnist-plain", "cnn13-sigmoid-mnist-sgd"], control=True)
def test_table1_checks_reject_the_wrong_nets(claim, evidence, trained_net, tier):
    # the skip connections are the mechanism: the fails check on the skip nets, the zero-error check on the plain
    fails_max, runs = claim.threshold("fails_max_acc"), NMH19_RUNS[tier]
    skip = nmh19.trained_accuracies(trained_net, nmh19.cell("cnn13-sigmoid-mnist-sgd").recipe, runs)
    plain = nmh19.trained_accuracies(trained_net, nmh19.cell("cnn13-sigmoid-mnist-plain").recipe, runs)
    evidence.record(removes="the skip connections (plain CNN13 vs its skip-net, same init and data)",
                    measured={"skip train acc": skip["train"], "plain train acc": plain["train"]},
                    seeds=skip["seeds"] + plain["seeds"])
    evidence.headline("plain sigmoid CNN13 train accuracy", sum(plain["train"]) / runs)
    assert not max(skip["train"]) <= fails_max
    assert not min(plain["train"]) == 1


@pytest.mark.claim("NMH19-TAB2", parts=["vgg11-sigmoid-c10-rand"], control=True)
def test_table2_beats_check_rejects_rand_against_rand(claim, evidence, recipe_data_for, tier, device):
    # the paired "A beats B" check on two independent rand draws (runs 0.. vs the next ones) of the same recipe
    name, runs = nmh19.cell("vgg11-sigmoid-c10-rand").recipe, NMH19_RUNS[tier]
    first = _rand(name, tier, recipe_data_for, device, runs)
    second = _rand(name, tier, recipe_data_for, device, runs, first=runs)
    gap_lo = paired_t_interval(first["test"], second["test"])[0]
    evidence.record(removes="the training of U (rand against rand: no SGD side)",
                    measured={"rand test acc": first["test"] + second["test"]}, seeds=first["seeds"] + second["seeds"])
    evidence.headline("rand - rand paired 95% t lower bound", gap_lo)
    assert not gap_lo > 0


# ---- rand: zero training error, worse than SGD, worse as the net grows ----------------------------------------

# the sigmoid skip-nets of both tables (Table 1 has no rand column: MNIST enters the zero-error part only)
RAND_RECIPES = {"mnist": nmh19.cell("cnn13-sigmoid-mnist-sgd").recipe, "c10": nmh19.cell("vgg11-sigmoid-c10-rand").recipe}
RAND_GROWN = ("vgg13", "vgg16")


@pytest.mark.claim("NMH19-RAND", parts=["zero-error"])
def test_rand_reaches_zero_training_error_with_n_skip_neurons(evidence, recipe_data_for, tier, device):
    # N = n (the paper's): Phi is square, cond ~1e12-1e14 for deep sigmoid nets; float64 still resolves it
    rows, seeds, conds = {}, [], {}
    for data, name in RAND_RECIPES.items():
        n = recipe_for(name, tier).n_train
        # cond(Phi) by an SVD only at the cpu tier: at n = N = 50,000 it costs more than the fit
        rand = _rand(name, tier, recipe_data_for, device, NMH19_RUNS[tier], skip_neurons=n, diagnose=tier == "cpu")
        rows[data] = rand["train"]
        conds[data] = [d["cond"] for d in rand.get("diagnostics", [])]
        seeds += rand["seeds"]
    evidence.headline("rand train accuracy at N = n (min over runs, MNIST and CIFAR-10)",
                      min(min(v) for v in rows.values()))
    evidence.record(measured={**{f"{k} rand train acc": v for k, v in rows.items()},
                              **{f"{k} cond(Phi), float64": v for k, v in conds.items()}}, seeds=seeds,
                    dtype="float64 features and fit")
    assert all(min(v) == 1 for v in rows.values()), rows


@pytest.mark.claim("NMH19-RAND", parts=["zero-error"], control=True)
def test_rand_with_too_few_features_does_not_interpolate(evidence, recipe_data_for, tier, device):
    # Lemma 3.2 needs N >= n: with N = n / 4 skip neurons Phi V = Y has no solution for generic labels
    name = RAND_RECIPES["c10"]
    n = recipe_for(name, tier).n_train
    few = _rand(name, tier, recipe_data_for, device, NMH19_RUNS[tier], skip_neurons=n // 4)
    evidence.record(removes="N >= n: N = n/4 skip neurons", measured={"rand train acc": few["train"]},
                    seeds=few["seeds"])
    evidence.headline("rand train accuracy at N = n/4", max(few["train"]))
    assert not min(few["train"]) == 1


@pytest.mark.claim("NMH19-RAND", parts=["below-sgd"])
def test_rand_generalizes_worse_than_skip_sgd(claim, evidence, trained_net, recipe_data_for, tier, device):
    _cell_or_skip("vgg11-sigmoid-c10-rand", tier)
    runs = NMH19_RUNS[tier]
    rand = _rand(RAND_RECIPES["c10"], tier, recipe_data_for, device, runs)
    sgd = nmh19.trained_accuracies(trained_net, RAND_RECIPES["c10"], runs)
    diffs = [a - b for a, b in zip(sgd["test"], rand["test"])]
    evidence.headline("VGG11 sigmoid skip-SGD - rand test accuracy", sum(diffs) / runs, interval=t_interval(diffs),
                      paper=nmh19.cell("vgg11-sigmoid-c10-sgd").paper_acc - nmh19.cell("vgg11-sigmoid-c10-rand").paper_acc)
    evidence.record(seeds=rand["seeds"], reduced=REDUCED.get(tier))
    _check_rand_below_sgd(claim, evidence, sgd["test"], rand["test"])


def _grows(recipe_data_for, tier, device, small_name, grown_names, first_grown=0) -> dict:
    """rand VGG11 runs vs each grown net's runs: paired lower bounds and the signal match (see the TOML)."""
    runs = NMH19_RUNS[tier]
    small = _rand(small_name, tier, recipe_data_for, device, runs, diagnose=True)
    result = {}
    for label, name in grown_names.items():
        grown = _rand(name, tier, recipe_data_for, device, runs, first=first_grown, diagnose=True)
        diffs = [a - b for a, b in zip(small["test"], grown["test"])]
        signal = {k: (sum(d[k] for d in grown["diagnostics"]) / sum(d[k] for d in small["diagnostics"]))
                  for k in ("input_energy", "participation")}
        result[label] = {"interval": t_interval(diffs), "mean": sum(diffs) / runs, "signal ratio": signal, "diffs": diffs,
                         "rand test %": nmh19.summary(grown["test"])}
    result["small"] = small
    return result


@pytest.mark.claim("NMH19-RAND", parts=["grows"])
def test_rand_worse_as_the_net_grows_only_at_matched_signal(claim, evidence, recipe_data_for, tier, device):
    small_name = RAND_RECIPES["c10"]
    grown = {net: small_name.replace("vgg11", net) for net in RAND_GROWN}
    if any(recipe_for(name, tier) is None for name in grown.values()):
        pytest.skip(f"not run at this tier ({tier})")
    res = _grows(recipe_data_for, tier, device, small_name, grown)
    small = res.pop("small")
    tol, fails_max = claim.threshold("signal_match_tolerance"), claim.threshold("fails_max_acc")
    worst = min(res.values(), key=lambda r: r["interval"][0])
    evidence.headline("rand VGG11 - grown net test accuracy (worst pair)", worst["mean"], interval=worst["interval"])
    evidence.record(measured={"rand test % VGG11": nmh19.summary(small["test"]),
                              **{f"{k}": v for k, v in res.items()},
                              "VGG11 features": small["diagnostics"][0]}, seeds=small["seeds"],
                    reduced=REDUCED.get(tier))
    needed = claim.threshold("grows_gap_needed")
    evidence.power(detectable=max(nmh19.detectable_gap(r["diffs"], needed) for r in res.values()), needed=needed,
                   method=f"gap planted on the measured paired spread, 95% t rule, {NMH19_RUNS[tier]} runs")
    lost = {k: r["signal ratio"] for k, r in res.items() if min(r["signal ratio"].values()) < 1 - tol}
    if lost or sum(small["test"]) / len(small["test"]) <= fails_max:
        # a deeper net whose random features carry less input signal tests worse without overfitting: no verdict
        evidence.inconclusive(f"rand VGG11 {nmh19.summary(small['test'])} (chance band <= {fails_max}); grown nets "
                              f"with less input signal than VGG11 (input energy / participation ratios): {lost}")
        return
    assert all(r["interval"][0] > 0 for r in res.values()), res


@pytest.mark.claim("NMH19-RAND", parts=["grows"], control=True)
def test_grows_check_does_not_fire_on_the_same_net(evidence, recipe_data_for, tier, device):
    small_name = RAND_RECIPES["c10"]
    runs = NMH19_RUNS[tier]
    res = _grows(recipe_data_for, tier, device, small_name, {"vgg11, the next runs": small_name}, first_grown=runs)
    same = res["vgg11, the next runs"]
    evidence.record(removes="the growth of the net (VGG11 against VGG11)", measured={"same net": same})
    evidence.headline("rand VGG11 - VGG11 test accuracy", same["mean"], interval=same["interval"])
    assert not same["interval"][0] > 0
