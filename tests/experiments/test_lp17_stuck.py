"""LP17-NOLM's stuck detector on convex problems, where the answer is known: softmax regression has a PSD
Hessian everywhere, reaches zero error on separable data and stalls at its minimum on data it cannot fit."""

import torch
from torch import nn

from losslab.experiments.lp17.training import EndPoint, polished_end_point


def _data(separable: bool):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=g)
    y = (x[:, 0] > 0).long() if separable else torch.randint(0, 2, (40,), generator=g)
    return x, y


def test_stuck_needs_non_zero_error_and_no_negative_curvature():
    assert EndPoint(1.0, 0.5, 0.1, 0.3, -1e-6, 1.0).stuck(1e-3)
    assert not EndPoint(1.0, 0.5, 0.0, 0.3, 0.0, 1.0).stuck(1e-3)
    assert not EndPoint(1.0, 0.5, 0.1, 0.3, -0.5, 1.0).stuck(1e-3)


def test_softmax_regression_fits_separable_data_and_is_stuck_on_random_labels():
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    fits = polished_end_point(model, *_data(separable=True))
    stalls = polished_end_point(model, *_data(separable=False))
    assert fits.train_error == 0 and not fits.stuck(1e-3)
    assert stalls.train_error > 0 and stalls.gradient_norm < 1e-6 and stalls.stuck(1e-3)
    assert stalls.lambda_min >= -1e-9 * stalls.lambda_max  # convex: the Hessian is PSD
    assert stalls.loss_after <= stalls.loss_before
