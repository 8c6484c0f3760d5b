"""WZE17 Sec. 3 checks as pure functions of per-seed results: Table 1 (SGD vs full-batch GD), Table 2 and
Eq. (4)-(5) (good solutions from random inits)."""

from __future__ import annotations

import numpy as np

from losslab.stats import clopper_pearson, t_interval


def tab1_statistic(sgd_test, gd_test, relative: bool) -> np.ndarray:
    """Per paired seed: r = (acc_SGD − acc_GD) / (1 − acc_GD), the share of GD's test error SGD removes
    (relative), or the gap in points 100·(acc_SGD − acc_GD)."""
    sgd, gd = np.asarray(sgd_test, float), np.asarray(gd_test, float)
    return (sgd - gd) / (1.0 - gd) if relative else 100.0 * (sgd - gd)


def margin_verdict(values, margin: float, confidence: float) -> dict:
    """The t interval of mean(values) against (−margin, margin): "inside" (small gap shown), "outside" (the
    whole interval beyond the margin: refuted) or "straddles" (the seeds cannot decide)."""
    lo, hi = t_interval(values, confidence)
    verdict = "inside" if -margin < lo and hi < margin else "outside" if lo >= margin or hi <= -margin \
        else "straddles"
    return {"verdict": verdict, "mean": float(np.mean(values)), "interval": (lo, hi), "half_width": (hi - lo) / 2,
            "margin": margin, "n": len(values)}


def is_good(final: dict, good_train_acc: float, good_test_acc: float) -> bool:
    """Table 2 / Eq. (5): a good solution fits the training set and generalizes (final metrics of one run)."""
    return final.get("train_acc", 0.0) >= good_train_acc and final.get("test_acc", 0.0) >= good_test_acc


def good_fraction_verdict(good: list[bool], min_probability: float, confidence: float) -> dict:
    """Clopper-Pearson interval of P(good) against min_probability: "reproduced" (lower bound reaches it),
    "refuted" (upper bound below it) or "inconclusive"; best_lower is the bound had every run been good."""
    k, n = sum(good), len(good)
    lo, hi = clopper_pearson(k, n, confidence)
    verdict = "reproduced" if lo >= min_probability else "refuted" if hi < min_probability else "inconclusive"
    return {"verdict": verdict, "good": k, "runs": n, "interval": (lo, hi),
            "best_lower": clopper_pearson(n, n, confidence)[0]}
