"""Layer-wise noise, interpolation, BN recalibration and full-batch GD against exact answers."""

import math

import pytest
import torch
from torch import nn

from losslab.probes.perturb import (error_and_loss, flat_weights, full_batch_gd, interpolate, layer_scale,
                                    layerwise_noise, recalibrate_batchnorm)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 40), nn.BatchNorm1d(40, affine=False), nn.ReLU(), nn.Linear(40, 3)).double()


def test_layer_scale_rules():
    w = torch.tensor([1.0, -3.0, 2.0, -4.0], dtype=torch.float64)
    assert layer_scale(w, "mean_abs") == pytest.approx(2.5)
    assert layer_scale(w, "std") == pytest.approx(float(torch.tensor([1.0, -3, 2, -4]).double().std()))
    with pytest.raises(ValueError):
        layer_scale(w, "max")


@pytest.mark.parametrize("rule", ["std", "mean_abs"])
def test_layerwise_noise_has_the_layer_scaled_std(rule):
    torch.manual_seed(0)
    model = nn.Linear(400, 500).double()  # 200,000 weights: the empirical noise std is within ~0.5%
    before = model.weight.detach().clone()
    s = layer_scale(before, rule)
    layerwise_noise(model, 0.1, rule, seed=3)
    noise = model.weight.detach() - before
    assert float(noise.std()) == pytest.approx(0.1 * s, rel=0.01)
    assert abs(float(noise.mean())) < 0.01 * 0.1 * s


def test_layerwise_noise_is_seeded_and_scale_zero_is_identity():
    a, b, c = _net(), _net(), _net()
    layerwise_noise(a, 0.1, seed=7)
    layerwise_noise(b, 0.1, seed=7)
    assert torch.equal(flat_weights(a), flat_weights(b))
    layerwise_noise(c, 0.0, seed=7)
    assert torch.equal(flat_weights(c), flat_weights(_net()))


def test_interpolate_is_the_convex_combination():
    a, b = _net(0), _net(1)
    wa, wb = flat_weights(a), flat_weights(b)
    for alpha in (0.0, 0.3, 1.0):
        w = flat_weights(interpolate(a, b, alpha))
        torch.testing.assert_close(w, (1 - alpha) * wa + alpha * wb, rtol=0, atol=1e-15)


def test_recalibrated_eval_equals_full_batch_forward():
    model = _net()
    x = torch.randn(64, 5, dtype=torch.float64)
    recalibrate_batchnorm(model, x)
    bn = model[1]
    h = model[0](x).detach()
    torch.testing.assert_close(bn.running_mean, h.mean(0))
    torch.testing.assert_close(bn.running_var, h.var(0, unbiased=True))
    assert bn.momentum == 0.1  # restored


def test_full_batch_gd_reaches_zero_error_on_separable_points():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=g, dtype=torch.float64)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    model = _net()
    errors = full_batch_gd(model, x, y, epochs=60, lr=0.5)
    assert len(errors) == 61
    assert errors[0] > 0.2 and errors[-1] == 0.0
    err, loss = error_and_loss(model, x, y)
    assert err == 0.0 and math.isfinite(loss)
