"""LP17 training claims (Sec. 4.3, 5, App. D, Fig. 2): reading trained runs' metrics into evidence."""

from __future__ import annotations

import numpy as np
from scipy import stats as st

from losslab.stats import t_interval


def final(metrics: list[dict], key: str) -> list[float]:
    """metrics["final"][key] of every run."""
    return [m["final"][key] for m in metrics]


def late_loss_decrease(history: list[dict], window: float) -> float:
    """Share of the train loss removed over the last `window` share of the epochs run."""
    epochs = history[-1]["epoch"]
    start = [r for r in history if r["epoch"] >= epochs * (1 - window)][0]["train_loss"]
    return (start - history[-1]["train_loss"]) / start


def stuck(metrics: dict, window: float, fraction: float) -> bool:
    """Stuck: not at 100% train accuracy when the budget ran out, the loss on a plateau (the last `window`
    of the epochs removed less than `fraction` of it)."""
    return metrics["final"]["train_acc"] < 1 and late_loss_decrease(metrics["history"], window) < fraction


def paired_gap(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of a - b (paired by run index) and its 95% t-interval."""
    diff = np.asarray(a) - np.asarray(b)
    lo, hi = t_interval(diff)
    return float(diff.mean()), lo, hi


def flat_with_rise(params, errors, slope: float) -> np.ndarray:
    """The errors with each width's mean replaced by the narrowest width's, plus `slope` · ln(params / min):
    a planted rise of `slope` per e-fold of parameters on the measured seed-to-seed noise."""
    params, errors = np.asarray(params), np.asarray(errors)
    means = {p: errors[params == p].mean() for p in set(params)}
    flat = errors - np.array([means[p] for p in params]) + means[params.min()]
    return flat + slope * np.log(params / params.min())


def slope_vs_log_params(params, errors, confidence: float = 0.95) -> tuple[float, float, float]:
    """OLS slope of error on ln(params) with its t-interval: (slope, lo, hi) (LP17 Fig. 40)."""
    fit = st.linregress(np.log(params), errors)
    half = st.t.ppf(0.5 + confidence / 2, len(errors) - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)
