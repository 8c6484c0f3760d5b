"""LP17 training claims: full-batch GD meets no local minimum (Sec. 4.3, 5), over-parametrizing does not
raise validation error (App. D, Fig. 40), a polynomial activation fitted to ReLU behaves like ReLU (Fig. 2).

Settings are the recipes lp17-train-* / lp17-over-* of fixtures/recipes.py. CPU tier: 256 (OVER: 128 and
256) of the shipped CIFAR-10 test images (cifar10-testsplit), a narrow LP17 DCNN (widths (8, 16, 16),
hidden 32, 12,266 parameters); paper tier: the 188,810-parameter DCNN on CIFAR-10.
Seeds: claim_seed(recipe.seed_claim, run_index); runs with the same run_index share the initialisation.
"""


import numpy as np
import pytest
from scipy import stats as st

from fixtures.recipes import LP17_OVER_GRID, LP17_OVER_SIZES, make_model, recipe_for, relu_polyfit
from losslab.nets import count_parameters
from losslab.stats import mean_std, t_interval

RUNS = 3
FIG2_MARGIN = 0.05  # |poly - relu| accuracy difference allowed (train and test), 95% interval inside ±5 points
OVER_TOL = 0.03  # widest net's mean error may exceed the narrowest's by at most 3 points


def _runs(trained_net, name, runs=RUNS):
    """Metrics of runs 0..runs-1 of a recipe (trained on a cache miss)."""
    return [trained_net(name, i)[1] for i in range(runs)]


def _final(metrics, key):
    return [m["final"][key] for m in metrics]


# ---- LP17-NOLM ----------------------------------------------------------------------------------------

def reaches_zero_train_error(metrics) -> bool:
    """Every run ended at 100% training accuracy within its epoch budget."""
    return all(m["final"]["train_acc"] == 1.0 for m in metrics)


@pytest.mark.claim("LP17-NOLM")
def test_full_batch_gd_reaches_zero_train_error_and_sgd_tests_better(trained_net, evidence):
    bgd, sgd = _runs(trained_net, "lp17-train-dcnn-bgd"), _runs(trained_net, "lp17-train-dcnn-sgd")
    bgd_err = 1 - np.array(_final(bgd, "test_acc"))
    sgd_err = 1 - np.array(_final(sgd, "test_acc"))
    gap = bgd_err - sgd_err  # paired: same run_index = same initialisation
    lo, hi = t_interval(gap)
    evidence.record(
        measured={"BGD epochs to 100% train": [m["epochs_run"] for m in bgd],
                  "BGD final train acc": _final(bgd, "train_acc"),
                  "BGD test error %": round(100 * float(bgd_err.mean()), 1),
                  "SGD test error %": round(100 * float(sgd_err.mean()), 1),
                  "BGD - SGD test error, points (95% CI)": [round(100 * float(gap.mean()), 2),
                                                             round(100 * lo, 2), round(100 * hi, 2)]},
        criterion="full-batch GD reaches 100% train accuracy in every seed within the epoch budget; "
                  "mean paired (BGD - SGD) test error >= 0 (95% t-interval reported)",
        seeds=[m["seed"] for m in bgd], uncertainty={"gap 95% CI": [lo, hi]}, dtype="float32", device="cpu",
        note=f"tier {bgd[0]['tier']}; paper (full CIFAR-10): BGD 40%, SGD 32%; CPU tier: 256 images, "
             f"so both errors are far higher than the paper's")
    assert reaches_zero_train_error(bgd), f"BGD stuck: final train acc {_final(bgd, 'train_acc')}"
    assert gap.mean() >= 0, f"BGD test error below SGD's: gap {gap} (CI {lo:.3f}, {hi:.3f})"


@pytest.mark.claim("LP17-NOLM", control=True)
def test_zero_train_error_check_rejects_net_smaller_than_data(trained_net, recipe_data_for, tier, evidence):
    tiny = _runs(trained_net, "lp17-train-dcnn-bgd-tiny", runs=1)
    recipe = recipe_for("lp17-train-dcnn-bgd-tiny", tier)
    params = count_parameters(make_model(recipe, 0))
    evidence.record(measured={"params": params, "train points": recipe.n_train,
                              "final train acc": _final(tiny, "train_acc")},
                    criterion="same check (100% train accuracy in every seed) rejects a net with fewer "
                              "parameters than points", seeds=[m["seed"] for m in tiny], dtype="float32")
    assert params < recipe.n_train
    assert not reaches_zero_train_error(tiny)


# ---- LP17-OVER ----------------------------------------------------------------------------------------

def slope_vs_log_params(params, errors, confidence=0.95):
    """OLS slope of error on ln(params) with a t-interval: (slope, lo, hi)."""
    fit = st.linregress(np.log(params), errors)
    half = st.t.ppf(0.5 + confidence / 2, len(errors) - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


def not_rising(params, errors, widest, narrowest) -> bool:
    """Validation error does not rise with width: slope interval reaches <= 0, and mean error of the widest
    net <= the narrowest's + OVER_TOL."""
    _, lo, _ = slope_vs_log_params(params, errors)
    return lo <= 0 and widest <= narrowest + OVER_TOL


def _over_grid(trained_net, tier, size_index):
    params, errors, per_width, train_acc, seeds = [], [], [], [], []
    for name in LP17_OVER_GRID[tier][size_index]:
        runs = _runs(trained_net, name, runs=2)
        p = count_parameters(make_model(recipe_for(name, tier), 0))
        errs = [1 - a for a in _final(runs, "test_acc")]
        params += [p] * len(errs)
        errors += errs
        per_width.append((p, float(np.mean(errs))))
        train_acc.append(_final(runs, "train_acc"))
        seeds += [m["seed"] for m in runs]
    return np.array(params), np.array(errors), per_width, train_acc, sorted(set(seeds))


@pytest.mark.claim("LP17-OVER")
@pytest.mark.parametrize("size_index", [0, 1])
def test_wider_nets_do_not_raise_validation_error(trained_net, tier, size_index, evidence):
    n = LP17_OVER_SIZES["cpu" if tier == "cpu" else "paper"][size_index]
    params, errors, per_width, train_acc, seeds = _over_grid(trained_net, tier, size_index)
    slope, lo, hi = slope_vs_log_params(params, errors)
    evidence.record(
        measured={"training points": n, "params / point": [round(p / n, 1) for p, _ in per_width],
                  "mean val error % per width": [round(100 * e, 1) for _, e in per_width],
                  "final train acc per width": train_acc,
                  "slope (error per e-fold of params) 95% CI": [round(slope, 4), round(lo, 4), round(hi, 4)]},
        criterion=f"OLS slope of val error on ln(params) has 95% CI lower end <= 0, and mean error of the "
                  f"widest net <= narrowest + {OVER_TOL}",
        seeds=seeds, uncertainty={"slope CI": [lo, hi]}, dtype="float32",
        note="2 seeds per width, SGD (batch 16, lr 0.01, momentum 0.9, <= 30 epochs, stop at 100% train); "
             "paper: up to 60x parameters per data point")
    assert per_width[-1][0] >= 10 * n, "widest net must have >= 10x parameters per data point"
    assert not_rising(params, errors, per_width[-1][1], per_width[0][1]), \
        f"validation error rises with width: {per_width}, slope CI ({lo:.4f}, {hi:.4f})"


@pytest.mark.claim("LP17-OVER", control=True)
def test_not_rising_check_rejects_planted_rising_series(trained_net, tier, evidence):
    params, errors, per_width, _, _ = _over_grid(trained_net, tier, 1)
    # planted: the narrowest net's mean error + 4 points per e-fold of parameters, plus the measured
    # seed-to-seed deviations from each width's mean
    means = {p: e for p, e in per_width}
    noise = errors - np.array([means[p] for p in params])
    planted = per_width[0][1] + 0.04 * np.log(params / params.min()) + noise
    widest = per_width[0][1] + 0.04 * np.log(per_width[-1][0] / per_width[0][0])
    _, lo, hi = slope_vs_log_params(params, planted)
    evidence.record(measured={"planted slope CI": [lo, hi]}, criterion="same check rejects a rising series",
                    dtype="float32")
    assert not not_rising(params, planted, widest, per_width[0][1])


# ---- LP17-FIG2 ----------------------------------------------------------------------------------------

def test_relu_polyfit_degree_two_matches_legendre_projection():
    """L2 projection of ReLU on [-r, r] onto degree 2: 3r/32 + z/2 + 15 z^2/(32 r)."""
    for r in (1.0, 3.0):
        assert np.allclose(relu_polyfit(2, r), (3 * r / 32, 0.5, 15 / (32 * r)), atol=2e-6)


def behaves_like(reference, other):
    """95% t-intervals of paired (other - reference) train and test accuracy lie inside ±FIG2_MARGIN."""
    out = {}
    for key in ("train_acc", "test_acc"):
        diff = np.array(_final(other, key)) - np.array(_final(reference, key))
        lo, hi = t_interval(diff) if diff.std() > 0 else (float(diff.mean()),) * 2
        out[key] = (float(diff.mean()), lo, hi)
    return all(-FIG2_MARGIN <= lo and hi <= FIG2_MARGIN for _, lo, hi in out.values()), out


@pytest.mark.claim("LP17-FIG2")
@pytest.mark.parametrize("task", ["dcnn", "teacher"])
def test_polynomial_activation_trains_and_tests_like_relu(trained_net, task, evidence):
    relu_name = "lp17-train-dcnn-sgd" if task == "dcnn" else "lp17-train-teacher-relu"
    relu, poly = _runs(trained_net, relu_name), _runs(trained_net, f"lp17-train-{task}-poly")
    ok, diffs = behaves_like(relu, poly)
    evidence.record(
        measured={"relu train/test acc": [mean_std(_final(relu, "train_acc"))[0],
                                          mean_std(_final(relu, "test_acc"))[0]],
                  "poly train/test acc": [mean_std(_final(poly, "train_acc"))[0],
                                          mean_std(_final(poly, "test_acc"))[0]],
                  "poly - relu (mean, 95% CI)": diffs, "poly coefficients": relu_polyfit(2, 3.0)},
        criterion=f"95% CI of paired (poly - relu) train and test accuracy inside ±{FIG2_MARGIN}",
        seeds=[m["seed"] for m in relu], dtype="float32",
        note="degree-2 least-squares fit of ReLU on [-3, 3]: 9/32 + z/2 + 5 z^2/32")
    assert ok, f"polynomial net differs from ReLU net: {diffs}"


@pytest.mark.claim("LP17-FIG2", control=True)
def test_like_relu_check_rejects_linear_activation(trained_net, evidence):
    relu, linear = _runs(trained_net, "lp17-train-teacher-relu"), _runs(trained_net, "lp17-train-teacher-linear")
    ok, diffs = behaves_like(relu, linear)
    evidence.record(measured={"linear - relu (mean, 95% CI)": diffs},
                    criterion="same check rejects a linear activation (a linear model) on the teacher task",
                    seeds=[m["seed"] for m in relu], dtype="float32")
    assert not ok
