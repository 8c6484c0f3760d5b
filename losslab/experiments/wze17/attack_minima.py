"""WZE17 Sec. 5 checks on attack-set minima (ATK, Fig. 2, Fig. 3) as pure functions of measured numbers, and
the tiny nets the CPU tier's instruments are checked on."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from losslab.experiments.wze17.curvature import near_zero_fraction
from losslab.experiments.wze17.rank_tests import bootstrap_rank_interval, rank_correlation_test


def fitted(rows: list[dict], min_train_acc: float) -> list[dict]:
    """The solutions that fit the training set: train accuracy >= min_train_acc."""
    return [r for r in rows if r["train_acc"] >= min_train_acc]


def worst_test_acc(rows: list[dict], min_train_acc: float) -> float:
    """ATK: the lowest test accuracy among fitted solutions (1.0 when none fits: nothing bad was found)."""
    return min((r["test_acc"] for r in fitted(rows, min_train_acc)), default=1.0)


def spectrum_shape_check(summary: dict, window: float, most: float, standard_errors: float) -> bool:
    """Fig. 2 (1)-(2): the fraction of |λ| < window·λ_max minus `standard_errors` SE exceeds `most`, and a
    negative eigenvalue."""
    return (near_zero_fraction(summary, window) - standard_errors * summary["near_zero_se"] > most
            and summary["most_negative"] < 0)


def bad_sharper_check(top_good, top_bad, much_larger: float) -> bool:
    """Fig. 2 (3): the bad solution's top eigenvalue is much_larger × the good one's, and its top-k sum larger."""
    return top_bad[0] >= much_larger * top_good[0] and sum(top_bad) > sum(top_good)


def flat_end_check(no_attack, attacked) -> bool:
    """Fig. 3: every optimizer-found solution's sharpness is below the median sharpness of the attacked ones."""
    return max(no_attack) < float(np.median(attacked))


def sharpness_correlation(sharpness, test_accs, train_losses, alpha: float, seed: int) -> dict:
    """Fig. 3 at matched training loss: the partial Spearman test ρ(sharpness, test | train loss) with its
    bootstrap interval, beside the unadjusted ρ (the paper's reading) and ρ(sharpness, train loss)."""
    partial = rank_correlation_test(sharpness, test_accs, train_losses, alpha=alpha, seed=seed)
    unadjusted = rank_correlation_test(sharpness, test_accs, alpha=alpha, seed=seed)
    return {**partial, "interval": bootstrap_rank_interval(sharpness, test_accs, train_losses, seed=seed),
            "passes": partial["rho"] < 0 and partial["p"] < alpha,
            "unadjusted": {**unadjusted, "passes": unadjusted["rho"] < 0 and unadjusted["p"] < alpha},
            "rho with train loss": rank_correlation_test(sharpness, train_losses, alpha=alpha, seed=seed)["rho"]}


def fit_with_adam(model, x, y, steps: int):
    """`steps` full-batch Adam steps (lr 1e-2) on the mean cross-entropy; the model returned in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def tiny_fitted_convnet(seed: int):
    """A 225-parameter conv net (conv, ReLU, max-pool, conv, like mLeNet) fitted to 40 random 8×8 images with
    random labels: a small Hessian with outliers, a bulk and negative eigenvalues; (model, x, y)."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(40, 1, 8, 8, generator=g), torch.randint(0, 5, (40,), generator=g)
    torch.manual_seed(seed + 1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Conv2d(4, 5, 3), torch.nn.Flatten())
    return fit_with_adam(model, x, y, steps=300), x, y


def tiny_resnet(seed: int, activation: str = "relu"):
    """A 2-stage ResNet (option-A shortcuts, BatchNorm with trained running statistics) fitted 30 Adam steps
    to 14 random 3×8×8 images with random labels; (model, x, y)."""
    from losslab.nets.resnet import ResNet

    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(14, 3, 8, 8, generator=g), torch.randint(0, 4, (14,), generator=g)
    torch.manual_seed(seed + 1)
    model = ResNet([1, 1], [3, 4], 3, activation, "pad", classes=4)
    return fit_with_adam(model, x, y, steps=30), x, y
