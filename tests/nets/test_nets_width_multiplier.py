"""Width-reduced CNN13 and VGG (the NMH19 CPU tier): channel counts, parameter counts, hidden neurons."""

import pytest
import torch

from losslab.nets import CNN13, VGG, build_net, count_hidden_neurons, count_parameters
from losslab.nets.cnn13 import CNN13_LAYERS, scaled_channels


def _conv_channels(model):
    return [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_scaled_channels_rounds_and_keeps_at_least_one():
    assert [scaled_channels(c, 1 / 16) for c in (64, 128, 256, 512)] == [4, 8, 16, 32]
    assert scaled_channels(64, 1 / 100) == 1  # round(0.64) = 1
    assert scaled_channels(3, 1 / 100) == 1  # round(0.03) = 0 -> at least 1
    assert scaled_channels(64, 1.5) == 96


def test_cnn13_width_sixteenth_by_hand():
    model = CNN13(activation="sigmoid", width=1 / 16)
    assert _conv_channels(model) == [c // 16 for _, c, _ in CNN13_LAYERS]  # 4, 4, 4, 8, ..., 16
    # conv k*k*cin*cout + cout per layer, then FC 16 -> 10
    convs, cin = 0, 1
    for k, c, _ in CNN13_LAYERS:
        convs += k * k * cin * (c // 16) + c // 16
        cin = c // 16
    assert count_parameters(model) == convs + 16 * 10 + 10 == 15010
    # hidden neurons: Table 3's spatial sizes (28, 28, 14, 14, 14, 7, 7, 7, 4, 4, 2, 2, 1) x channels / 16
    sizes = [28, 28, 14, 14, 14, 7, 7, 7, 4, 4, 2, 2, 1]
    assert count_hidden_neurons(model, (1, 28, 28)) == sum(s * s * c // 16 for s, (_, c, _) in
                                                           zip(sizes, CNN13_LAYERS)) == 12808
    assert count_hidden_neurons(CNN13(), (1, 28, 28)) == 16 * 12808  # == 204,928: width 1.0 is Table 3
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name,params,hidden", [("vgg11", 58306, 9728), ("vgg13", 59038, 15872),
                                                ("vgg16", 79854, 17536)])
def test_vgg_width_sixteenth_keeps_128_wide_fc(name, params, hidden):
    model = VGG(name, activation="sigmoid", width=1 / 16)
    assert max(_conv_channels(model)) == 32 and model.classifier[0].in_features == 32
    assert model.classifier[0].out_features == 128 and model.classifier[2].out_features == 128
    assert count_parameters(model) == params
    # hidden neurons: convs (channels x spatial) + the two 128-wide FC layers
    assert count_hidden_neurons(model, (3, 32, 32)) == hidden
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_vgg11_width_sixteenth_parameters_by_hand():
    # convs 3->4->8->16->16->32->32->32->32 (3x3, bias), FC 32->128->128->10
    chans = [3, 4, 8, 16, 16, 32, 32, 32, 32]
    convs = sum(9 * a * b + b for a, b in zip(chans, chans[1:]))
    assert count_parameters(VGG("vgg11", width=1 / 16)) == convs + (32 * 128 + 128) + (128 * 128 + 128) + 1290


def test_width_one_is_the_paper_net_and_build_net_passes_width():
    for name in ("vgg11", "vgg16"):
        assert count_parameters(VGG(name, width=1.0)) == count_parameters(VGG(name))
    assert count_parameters(CNN13(width=1.0)) == count_parameters(CNN13())
    assert count_parameters(build_net("vgg16", width=1 / 16, activation="sigmoid")) == 79854
    skip = build_net("cnn13", skip={"n": 512, "seed": 0, "input_shape": (1, 28, 28)}, width=1 / 16)
    assert count_parameters(skip) == 15010 + 5120
