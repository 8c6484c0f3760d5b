"""losslab.experiments.nmh19 against exact answers: the table cells, the paper's init, the rand fit, diagnostics."""

import math

import torch
from torch import nn

from losslab.data import Split
from losslab.experiments import nmh19
from losslab.nets import build_net


def test_every_table_cell_is_there_once():
    # Table 1: 2 activations x (plain, skip-SGD); Table 2: 2 activations x 4 nets x (C-10: plain, rand, SGD; C-10+:
    # plain, SGD)
    assert len(nmh19.CELLS) == 4 + 2 * 4 * 5 == len(nmh19.CELLS_BY_PART)
    assert nmh19.cell("vgg13-sigmoid-c10-rand").paper_pct == 61.50
    assert nmh19.cell("densenet121-softplus-c10p-sgd").recipe == "nmh19-densenet121-softplus-skip-cifar10aug"
    assert nmh19.cell("vgg11-sigmoid-c10-rand").recipe == nmh19.cell("vgg11-sigmoid-c10-sgd").recipe


def test_he_truncated_normal_has_variance_2_over_fan_in_cut_at_2_std():
    model = nn.Sequential(nn.Linear(400, 300), nn.Conv2d(16, 50, 5))
    nmh19.he_truncated_normal_(model, seed=0)
    for layer, fan_in in ((model[0], 400), (model[1], 16 * 25)):
        w = layer.weight.detach().double().flatten()
        std = math.sqrt(2 / fan_in) / nmh19._TRUNCATED_STD
        # 120,000 / 20,000 draws: the sample variance is within 3% of 2/fan_in (its relative sd ~ 1%)
        assert abs(float(w.var()) / (2 / fan_in) - 1) < 0.03
        assert float(w.abs().max()) <= 2 * std and float(layer.bias.detach().abs().max()) == 0
    w1 = nmh19.he_truncated_normal_(nn.Linear(3, 2), seed=5).weight
    assert torch.equal(w1, nmh19.he_truncated_normal_(nn.Linear(3, 2), seed=5).weight)


def test_truncated_std_is_that_of_a_standard_normal_cut_at_2():
    from scipy.stats import truncnorm
    assert math.isclose(nmh19._TRUNCATED_STD, truncnorm(-2, 2).std(), rel_tol=1e-12)


def test_rand_fit_interpolates_with_as_many_skip_neurons_as_images():
    torch.manual_seed(0)
    model = build_net("vgg11", skip={"n": 64, "seed": 1, "input_shape": (3, 32, 32)}, activation="sigmoid",
                      width=1 / 16)
    nmh19.he_truncated_normal_(model, seed=2)
    g = torch.Generator().manual_seed(3)
    train = Split(torch.rand(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g))
    fitted, phi, logits = nmh19.rand_fit(model, train)
    assert (fitted(train.x.double()).argmax(1) == train.y).all() and (logits.argmax(1) == train.y).all()
    assert torch.allclose(logits, fitted(train.x.double()), atol=1e-9) and phi.shape == (64, 64)
    assert torch.equal(fitted.base.features[0].weight, model.base.features[0].weight)  # U untouched


def test_feature_diagnostics_on_a_constant_plus_rank_one_signal():
    # Phi = 3 + u v^T with u centred: input energy ||u v^T||^2 / ||Phi||^2, one centred singular value
    u = torch.tensor([1.0, -1.0, 2.0, -2.0], dtype=torch.float64)
    v = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    phi = 3.0 + u[:, None] * v[None, :]
    d = nmh19.feature_diagnostics(phi)
    assert math.isclose(d["input_energy"], float((u[:, None] * v).pow(2).sum() / phi.pow(2).sum()), rel_tol=1e-12)
    assert math.isclose(d["participation"], 1.0, rel_tol=1e-6)
