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
    torch.testing.assert_close(bn.running_var, h.var(0, unbiased=False))
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


def test_layerwise_noise_leaves_biases_unless_asked():
    a, b = _net(), _net()
    layerwise_noise(a, 0.5, seed=1)
    assert torch.equal(a[0].bias, _net()[0].bias) and torch.equal(a[3].bias, _net()[3].bias)
    assert not torch.equal(a[0].weight, _net()[0].weight)
    layerwise_noise(b, 0.5, seed=1, biases=True)
    assert not torch.equal(b[0].bias, _net()[0].bias)


def test_recalibrated_eval_reproduces_the_train_mode_forward():
    """Eval mode after recalibration on x = the train-mode (batch-statistics) forward of x, to rounding."""
    model = _net()
    x = torch.randn(16, 5, dtype=torch.float64)  # small batch: the unbiased/biased variance factor is 16/15
    model.train()
    expected = model(x).detach()
    recalibrate_batchnorm(model, x)
    model.eval()
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-12)


def test_error_and_loss_uses_the_calibration_batch_statistics_on_another_batch():
    """Evaluating batch z with BN calibrated on x normalises z with x's mean and biased variance."""
    model = _net()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 5, generator=g, dtype=torch.float64)
    z = 3 + torch.randn(20, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (20,), generator=g)
    hx, hz = model[0](x).detach(), model[0](z).detach()
    normalised = (hz - hx.mean(0)) / torch.sqrt(hx.var(0, unbiased=False) + model[1].eps)
    logits = model[3](torch.relu(normalised)).detach()
    error, loss = error_and_loss(model, z, y, calibrate_x=x)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-12)
    assert error == pytest.approx(float((logits.argmax(1) != y).double().mean()))


def test_model_handed_over_in_eval_mode_stays_in_eval_mode():
    model = _net().eval()
    x = torch.randn(30, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (30,))
    error_and_loss(model, x, y, calibrate_x=x)
    assert not model.training
    full_batch_gd(model, x, y, epochs=2, lr=0.1)
    assert not model.training
    recalibrate_batchnorm(model, x)
    assert not model.training


def test_full_batch_gd_snapshots_every_step_and_stops_at_zero_error():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 5, generator=g, dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    model, seen = _net(), []
    errors = full_batch_gd(model, x, y, epochs=200, lr=0.5, snapshot=lambda m: seen.append(flat_weights(m)),
                           stop_at_zero_error=True)
    assert errors[-1] == 0.0 and len(errors) < 201  # stopped early
    assert len(seen) == len(errors) - 1  # one snapshot per step taken
    assert torch.equal(seen[-1], flat_weights(model))
    assert min(errors[:-1]) > 0  # no step was taken from a zero-error point


def test_full_batch_gd_leaves_the_full_batch_statistics_at_the_final_weights():
    """On return BN's running mean / variance are x's batch statistics at the final weights (not the momentum
    average over the steps), so eval mode on x is the full-batch forward GD minimised."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    model = _net()
    full_batch_gd(model, x, y, epochs=3, lr=0.5)
    h = model[0](x).detach()
    torch.testing.assert_close(model[1].running_mean, h.mean(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(model[1].running_var, h.var(0, unbiased=False), rtol=0, atol=1e-12)
