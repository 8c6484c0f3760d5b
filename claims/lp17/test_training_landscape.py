"""LP17 training claims: full-batch GD meets no local minimum (Sec. 4.3, 5), over-parametrizing does not
raise validation error (App. D, Fig. 40), a polynomial activation fitted to ReLU behaves like ReLU (Fig. 2).

Settings are the recipes lp17-train-* / lp17-over-* of fixtures/recipes.py; readings of the runs in
losslab.experiments.lp17.training. CPU tier: 256 (OVER: 128 and 256) of the shipped CIFAR-10 test images
(cifar10-testsplit), a narrow LP17 DCNN (widths (8, 16, 16), hidden 32, 12,266 parameters; OVER: widths
k·((4, 8, 8), 16), k = 1, 2, 4); paper tier: the 188,810-parameter DCNN on CIFAR-10. Seeds: claim_seed(recipe.seed_claim, run_index); runs with the same
run_index share the initialisation.
"""

import numpy as np
import pytest

from fixtures.recipes import (LP17_OVER_GRID, LP17_OVER_SIZES, LP17_POLY_DEGREE, LP17_POLY_RADIUS, at_scale,
                              make_model, recipe_for, relu_polyfit)
from losslab.experiments.lp17.training import (final, flat_with_rise, paired_gap, polished_end_point,
                                              slope_vs_log_params)
from losslab.nets import count_parameters
from losslab.stats import mean_std, smallest_detected_shift

RUNS = 5  # seeds per recipe (paired inits across recipes)
# what the cpu tier reduces (the gpu and paper tiers run the paper's setting)
REDUCED = {"cpu": "256 CIFAR-10 images, DCNN widths (8, 16, 16) + hidden 32, 150 BGD epochs"}
OVER_REDUCED = {"cpu": "128 and 256 CIFAR-10 images, DCNN widths k·((4, 8, 8), 16) for k = 1, 2, 4, SGD to 100% train "
                       "accuracy"}


def _runs(trained_net, name, runs=RUNS):
    """Metrics of runs 0..runs-1 of a recipe (trained on a cache miss)."""
    return [trained_net(name, i)[1] for i in range(runs)]


# ---- LP17-NOLM ----------------------------------------------------------------------------------------

def _end_points(trained_net, recipe_data_for, name, runs):
    """Per run of the recipe: (metrics, the polished end point if the run ended short of 100% train accuracy)."""
    train = recipe_data_for(name)["train"]
    out = []
    for i in range(runs):
        model, metrics = trained_net(name, i)
        short = metrics["final"]["train_acc"] < 1
        steps = at_scale((300, 200), (5, 5))  # L-BFGS iterations, Lanczos products
        out.append((metrics, polished_end_point(model.cpu(), train.x, train.y, *steps) if short else None))
    return out


def _stuck_rows(claim, runs):
    return [{"final train acc": m["final"]["train_acc"], "epochs run": m["epochs_run"],
             "end point": None if p is None else vars(p),
             "stuck": p is not None and p.stuck(claim.threshold("curvature_tol"))} for m, p in runs]


@pytest.mark.claim("LP17-NOLM", parts=["no_stuck"])
def test_full_batch_gd_reaches_zero_train_error_without_getting_stuck(trained_net, recipe_data_for, tier, device,
                                                                       evidence, claim):
    runs = _end_points(trained_net, recipe_data_for, "lp17-train-dcnn-bgd", RUNS)
    rows = _stuck_rows(claim, runs)
    evidence.headline("BGD runs at 100% train accuracy", sum(m["final"]["train_acc"] == 1 for m, _ in runs) / len(runs),
                      paper=1)
    evidence.record(measured={"runs": rows}, seeds=[m["seed"] for m, _ in runs], dtype="float32", device=device,
                    reduced=REDUCED.get(tier))
    assert not any(r["stuck"] for r in rows), f"a BGD run ended at a local minimum with non-zero error: {rows}"
    assert all(m["final"]["train_acc"] == 1 for m, _ in runs), f"BGD did not reach zero error: {rows}"


@pytest.mark.claim("LP17-NOLM", parts=["no_stuck"], control=True)
def test_control_net_smaller_than_the_data_gets_stuck(trained_net, recipe_data_for, tier, evidence, claim):
    """112 parameters for 256 points (over-parametrization removed), the same data, init rule and BGD: the run
    ends short of zero error, and L-BFGS from its end point stalls at a local minimum (no negative curvature)
    with non-zero error: the stuck detector fires."""
    runs = _end_points(trained_net, recipe_data_for, "lp17-train-dcnn-bgd-tiny", 1)
    recipe = recipe_for("lp17-train-dcnn-bgd-tiny", tier)
    params = count_parameters(make_model(recipe, 0))
    rows = _stuck_rows(claim, runs)
    evidence.record(removes=f"over-parametrization: {params} parameters for {recipe.n_train} points",
                    measured={"runs": rows}, seeds=[m["seed"] for m, _ in runs], dtype="float64")
    point = runs[0][1]
    evidence.headline("lambda_min / lambda_max at the polished end point",
                      None if point is None else point.lambda_min / point.lambda_max)
    assert params < recipe.n_train
    assert all(r["stuck"] for r in rows), f"the small net is not stuck: {rows}"


@pytest.mark.claim("LP17-NOLM", parts=["test_gap"])
def test_bgd_tests_worse_than_sgd(trained_net, tier, device, evidence, claim, request):
    bgd, sgd = _runs(trained_net, "lp17-train-dcnn-bgd"), _runs(trained_net, "lp17-train-dcnn-sgd")
    bgd_err, sgd_err = [1 - a for a in final(bgd, "test_acc")], [1 - a for a in final(sgd, "test_acc")]
    gap, lo, hi = paired_gap(bgd_err, sgd_err)
    scale = 100  # percentage points
    evidence.headline("BGD - SGD test error (points)", scale * gap, interval=(scale * lo, scale * hi),
                      paper=claim.threshold("paper_gap_points"), unit="points")
    evidence.record(measured={"BGD test error %": scale * float(np.mean(bgd_err)),
                              "SGD test error %": scale * float(np.mean(sgd_err))},
                    seeds=[m["seed"] for m in bgd], dtype="float32", device=device, reduced=REDUCED.get(tier))
    evidence.power(detectable=scale * (hi - lo) / 2, needed=claim.threshold("paper_gap_points"),
                   method=f"95% t-interval half-width over {len(bgd)} paired seeds: the smallest gap it separates "
                          "from 0")
    if tier == "cpu":
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=(
            f"not reproduced at the cpu tier: BGD - SGD test error {scale * gap:.1f} [{scale * lo:.1f}, "
            f"{scale * hi:.1f}] points over {len(bgd)} paired seeds (BGD {scale * np.mean(bgd_err):.1f}%, SGD "
            f"{scale * np.mean(sgd_err):.1f}%): no gap, the interval below the paper's 8")))
    assert lo > 0, f"BGD does not test worse than SGD: gap {scale * gap:.1f} [{scale * lo:.1f}, {scale * hi:.1f}] points"


# ---- LP17-OVER ----------------------------------------------------------------------------------------

def not_rising(claim, params, errors) -> bool:
    """Validation error does not rise with width: the slope interval reaches <= 0, and the widest net's mean
    error <= the narrowest's + the tolerance."""
    _, lo, _ = slope_vs_log_params(params, errors)
    widest, narrowest = errors[params == params.max()].mean(), errors[params == params.min()].mean()
    return lo <= 0 and widest <= narrowest + claim.threshold("widest_excess_max")


def _over_grid(trained_net, tier, size_index, runs):
    params, errors, per_width, train_acc, seeds = [], [], [], [], []
    for name in LP17_OVER_GRID[tier][size_index]:
        metrics = _runs(trained_net, name, runs=runs)
        p = count_parameters(make_model(recipe_for(name, tier), 0))
        errs = [1 - a for a in final(metrics, "test_acc")]
        params += [p] * len(errs)
        errors += errs
        per_width.append((p, float(np.mean(errs))))
        train_acc.append(final(metrics, "train_acc"))
        seeds += [m["seed"] for m in metrics]
    return np.array(params), np.array(errors), per_width, train_acc, sorted(set(seeds))


@pytest.mark.claim("LP17-OVER")
@pytest.mark.parametrize("size_index", [0, 1])
def test_wider_nets_do_not_raise_validation_error(trained_net, tier, size_index, evidence, claim):
    n = LP17_OVER_SIZES["cpu" if tier == "cpu" else "paper"][size_index]
    params, errors, per_width, train_acc, seeds = _over_grid(trained_net, tier, size_index, claim.threshold("runs"))
    slope, lo, hi = slope_vs_log_params(params, errors)
    evidence.headline("slope of validation error per e-fold of parameters", slope, interval=(lo, hi))
    evidence.record(measured={"training points": n, "params / point": [p / n for p, _ in per_width],
                              "mean val error per width": [e for _, e in per_width],
                              "final train acc per width": train_acc},
                    seeds=seeds, dtype="float32", reduced=OVER_REDUCED.get(tier))
    # power: the smallest rise per e-fold, planted on the flat series with the measured seed noise, whose slope
    # interval lies above 0, against the rise that puts the widest net the tolerance above the narrowest (the
    # mean comparison of not_rising has no interval: planted means flag exactly at the tolerance)
    needed = claim.threshold("widest_excess_max") / np.log(params.max() / params.min())
    detectable = smallest_detected_shift(
        lambda rise: slope_vs_log_params(params, flat_with_rise(params, errors, rise))[1] > 0,
        np.linspace(0, claim.threshold("planted_slope"), 401))  # steps of 1e-4 per e-fold
    evidence.power(detectable=detectable, needed=needed,
                   method=f"planted rise per e-fold of parameters on the measured seed noise, {len(seeds)} seeds "
                          f"x {len(per_width)} widths: the smallest whose 95% slope interval excludes 0")
    assert per_width[-1][0] >= claim.threshold("params_per_point_min") * n, "widest net not over-parametrized"
    if min(min(a) for a in train_acc) < 1:
        evidence.inconclusive(f"not every net fits its {n} training images: train acc {train_acc}")
    assert not_rising(claim, params, errors), f"validation error rises with width: {per_width}, slope CI ({lo:.4f}, {hi:.4f})"


@pytest.mark.claim("LP17-OVER", control=True)
def test_control_planted_rising_series_is_rejected(trained_net, tier, evidence, claim):
    params, errors, *_ = _over_grid(trained_net, tier, 1, claim.threshold("runs"))
    planted = flat_with_rise(params, errors, claim.threshold("planted_slope"))
    slope, lo, hi = slope_vs_log_params(params, planted)
    evidence.record(removes="the flat error: a planted rise with the measured seed noise", dtype="float32")
    evidence.headline("slope of validation error per e-fold of parameters", slope, interval=(lo, hi))
    assert not not_rising(claim, params, planted)


# ---- LP17-FIG2 ----------------------------------------------------------------------------------------

def accuracy_gap(reference, other, key):
    """Paired (other - reference) accuracy: (mean, 95% t-interval), the interval collapsed for equal runs."""
    a, b = final(other, key), final(reference, key)
    if np.std(np.subtract(a, b)) == 0:
        return (float(np.mean(np.subtract(a, b))),) * 3
    return paired_gap(a, b)


def inside_margin(claim, gap) -> bool:
    _, lo, hi = gap
    return -claim.threshold("accuracy_margin") <= lo and hi <= claim.threshold("accuracy_margin")


def outside_margin(claim, gap) -> bool:
    """The whole interval beyond the margin: evidence of a difference (an interval across it decides nothing)."""
    _, lo, hi = gap
    return hi < -claim.threshold("accuracy_margin") or lo > claim.threshold("accuracy_margin")


RELU_RECIPE = {"dcnn": "lp17-train-dcnn-sgd", "teacher": "lp17-train-teacher-relu"}


@pytest.mark.claim("LP17-FIG2", parts=["{split}"])
@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("task", ["dcnn", "teacher"])
def test_polynomial_activation_trains_and_tests_like_relu(trained_net, tier, task, split, evidence, claim):
    key = f"{split}_acc"
    relu, poly = _runs(trained_net, RELU_RECIPE[task]), _runs(trained_net, f"lp17-train-{task}-poly")
    gap = accuracy_gap(relu, poly, key)
    evidence.headline(f"poly - relu {split} accuracy ({task})", gap[0], interval=gap[1:])
    evidence.record(measured={"relu": mean_std(final(relu, key))[0], "poly": mean_std(final(poly, key))[0],
                              "poly coefficients": relu_polyfit(LP17_POLY_DEGREE, LP17_POLY_RADIUS)},
                    seeds=[m["seed"] for m in relu], dtype="float32", reduced=REDUCED.get(tier))
    evidence.power(detectable=(gap[2] - gap[1]) / 2, needed=claim.threshold("accuracy_margin"),
                   method=f"95% t-interval half-width over {len(relu)} paired seeds: the gap from 0 it resolves, "
                          "against the margin it must place the interval inside")
    linear = accuracy_gap(_runs(trained_net, "lp17-train-teacher-relu"),
                          _runs(trained_net, "lp17-train-teacher-linear"), key)
    if inside_margin(claim, linear):
        evidence.inconclusive(f"the check does not reject a linear model on {split} accuracy: linear - relu "
                              f"{linear[0]:.3f} [{linear[1]:.3f}, {linear[2]:.3f}]")
    if not inside_margin(claim, gap) and not outside_margin(claim, gap):
        evidence.inconclusive(f"the interval of poly - relu crosses the margin: {gap[0]:.3f} "
                              f"[{gap[1]:.3f}, {gap[2]:.3f}]")
        return
    assert inside_margin(claim, gap), f"polynomial net differs from ReLU net: {gap}"


@pytest.mark.claim("LP17-FIG2", parts=["train"], control=True)
def test_control_linear_activation_is_rejected(trained_net, evidence, claim):
    relu, linear = _runs(trained_net, "lp17-train-teacher-relu"), _runs(trained_net, "lp17-train-teacher-linear")
    gap = accuracy_gap(relu, linear, "train_acc")
    evidence.record(removes="the nonlinearity: a linear activation (a linear model) on the teacher task",
                    measured={"test-accuracy gap": accuracy_gap(relu, linear, "test_acc")}, dtype="float32")
    evidence.headline("linear - relu train accuracy (teacher)", gap[0], interval=gap[1:])
    assert not inside_margin(claim, gap)
