"""WZE17 Sec. 3 table checks (Table 1: SGD vs full-batch GD) as pure functions of per-seed accuracies."""

from __future__ import annotations

import numpy as np

from losslab.stats import t_interval


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
