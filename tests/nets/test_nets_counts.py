"""Parameter / neuron counts of the zoo against the papers, activations, skip-networks."""

import pytest
import torch

from losslab.nets import (CNN13, LP17DCNN, VGG, LeNet, MLeNet, Polynomial, SkipToOutput, SmallNIN, build_net,
                          count_hidden_neurons, count_parameters, fnn, make_activation, resnet18, resnet32)


def test_mlenet_has_wze17_parameter_count():
    assert count_parameters(MLeNet()) == 3781  # WZE17 App. A and Fig. 2 caption


def test_lenet_and_snin_counts():
    assert count_parameters(LeNet()) == 61706  # LeNet-5 with 28x28 input (padding 2 in conv1)
    assert count_parameters(SmallNIN()) == 24300  # our NIN reading with (20, 30, 20); paper gives no count


def test_lp17_dcnn_has_188810_parameters_and_no_bn_affine():
    model = LP17DCNN()
    assert count_parameters(model) == 188810  # LP17 §4 / App. B
    assert all(not bn.affine for bn in model.modules() if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_fnn_width40_counts():
    assert count_parameters(fnn(12)) == 18161  # WZE17 §2.1: "about 18000" for the 12-layer net
    assert count_parameters(fnn(2)) == 1761
    assert len([m for m in fnn(4) if isinstance(m, torch.nn.Linear)]) == 5


def test_cnn13_hidden_neurons_table3_versus_text():
    model = CNN13()
    # Table 3's per-layer list sums to 204,928; the caption and Table 1 say 179,840 (= 204,928 - 25,088,
    # one 14x14x128 layer less): the paper is inconsistent, we build the table as printed.
    assert count_hidden_neurons(model, (1, 28, 28)) == 204928
    assert 204928 - 179840 == 14 * 14 * 128
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


@pytest.mark.parametrize("name,params", [("vgg11", 9303946), ("vgg13", 9488458), ("vgg16", 14798154)])
def test_vgg_with_128_wide_fc(name, params):
    model = VGG(name)
    assert count_parameters(model) == params
    assert model.classifier[0].out_features == 128


def test_resnets():
    assert count_parameters(resnet32()) == 464154  # WZE17 §5.3 "about 0.5 million"; He et al.: 0.46M
    assert count_parameters(resnet18()) == 11173962
    assert resnet32()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_activations():
    z = torch.linspace(-2, 2, 9)
    assert torch.allclose(make_activation("softplus")(z), torch.nn.functional.softplus(z, beta=20))
    assert make_activation("softplus").beta == 20
    assert torch.allclose(Polynomial([1.0, 0.0, 2.0])(z), 1 + 2 * z**2)
    assert torch.allclose(make_activation(("poly", [0, 1, 0, -1]))(z), z - z**3)
    with pytest.raises(ValueError):
        make_activation("swishy")
    model = MLeNet(activation="sigmoid")
    assert any(isinstance(m, torch.nn.Sigmoid) for m in model.modules())


def test_skip_network_is_linear_in_chosen_neurons():
    torch.manual_seed(0)
    base = MLeNet()
    model = SkipToOutput(base, (1, 28, 28), n_skip=100, seed=7)
    assert model.total_hidden == count_hidden_neurons(MLeNet(), (1, 28, 28))
    assert count_parameters(model) == 3781 + 100 * 10
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.nn.init.zeros_(model.skip.weight)
        assert torch.allclose(model(x), base(x))
        # output is affine in V: f(V1 + V2) - f(0) = (f(V1) - f(0)) + (f(V2) - f(0))
        v1, v2 = torch.randn(10, 100), torch.randn(10, 100)
        f0 = model(x)
        model.skip.weight.copy_(v1); f1 = model(x)
        model.skip.weight.copy_(v2); f2 = model(x)
        model.skip.weight.copy_(v1 + v2); f12 = model(x)
    assert torch.allclose(f12 - f0, (f1 - f0) + (f2 - f0), atol=1e-5)
    same = SkipToOutput(MLeNet(), (1, 28, 28), n_skip=100, seed=7)
    assert all(torch.equal(getattr(same, f"skip_index_{i}"), getattr(model, f"skip_index_{i}"))
               for i in range(len(model.hidden)))
    copy = __import__("copy").deepcopy(model)
    with torch.no_grad():
        copy.skip.weight.mul_(2.0)
        assert not torch.allclose(copy(x), model(x))  # the copy computes with its own weights
        assert torch.allclose(model(x), f12)
    with pytest.raises(ValueError):
        SkipToOutput(MLeNet(), (1, 28, 28), n_skip=10**6, seed=0)


def test_build_net_by_name_with_skip():
    model = build_net("mlenet", skip={"n": 50, "seed": 1, "input_shape": (1, 28, 28)}, activation="softplus")
    assert count_parameters(model) == 3781 + 500
    with pytest.raises(ValueError, match="unknown network"):
        build_net("alexnet")


def test_densenet121_count_against_torchvision_total():
    from losslab.nets import densenet121
    model = densenet121()
    # torchvision densenet121 (ImageNet, 1000 classes): 7,978,856; minus the 7x7 stem (40 x 3 x 64),
    # the stem BN (128) and 990 extra classes (990 x 1,025)
    assert count_parameters(model) == 7978856 - 40 * 3 * 64 - 128 - 990 * 1025 == 6956298
    first_block = [m for m in model.features[1].modules() if getattr(m, "is_hidden_activation", False)]
    assert len(first_block) == 12
