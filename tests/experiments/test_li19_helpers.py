"""LI19 experiment helpers on exact answers."""

import numpy as np
import torch

from losslab.experiments.li19.dyson import smallest_rejected_error
from losslab.experiments.li19.hinge_nets import (
    batched_outputs, init_params, layer_shapes, linearly_separable, mirror_asymmetry, shell_data,
)
from losslab.probes.two_layer import flat_mlp


def test_smallest_rejected_error_needs_every_larger_error_rejected():
    assert smallest_rejected_error({0.01: 1.2, 0.02: 0.9, 0.05: 1.5, 0.1: 3.0}, 1.0) == 0.05
    assert smallest_rejected_error({0.01: 1.2, 0.1: 3.0}, 1.0) == 0.01
    assert smallest_rejected_error({0.01: 1.2, 0.1: 0.5}, 1.0) == float("inf")


def test_mirror_asymmetry_of_known_spectra():
    symmetric = mirror_asymmetry([-2.0, -1.0, 0.0, 1.0, 2.0])
    assert symmetric["W1/mean|lambda|"] == 0 and symmetric["fraction negative"] == 0.5
    assert symmetric["third moment"] == 0
    shifted = mirror_asymmetry([0.0, 1.0, 2.0])  # W1 to the mirror {-2, -1, 0}: mean(2, 2, 2); mean|lambda| = 1
    assert np.isclose(shifted["W1/mean|lambda|"], 2) and shifted["fraction negative"] == 0


def test_shell_data_is_not_linearly_separable_and_batched_outputs_match():
    g = torch.Generator().manual_seed(0)
    x, y = shell_data(24, 3, g)
    assert not linearly_separable(x, y)
    assert linearly_separable(x, torch.sign(x[:, 0]))
    shapes = layer_shapes(3, 5, 2)
    thetas = torch.stack([init_params(shapes, g) for _ in range(3)])
    expected = torch.stack([flat_mlp(t, x, shapes) for t in thetas])
    assert torch.allclose(batched_outputs(thetas, x, shapes), expected, atol=1e-12)
