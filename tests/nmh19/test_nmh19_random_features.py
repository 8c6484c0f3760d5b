"""losslab.probes.random_features against exact answers."""

import torch

from losslab.nets import build_net
from losslab.probes.random_features import fit_random_features, ridge_output_weights, skip_features_and_base


def test_ridge_matches_hand_solution():
    # (Phi^T Phi + I)^{-1} Phi^T T with Phi = diag(1, 2), T = (1, 1)^T: (1/2, 2/5)
    V = ridge_output_weights(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0], [1.0]]), ridge=1.0)
    assert torch.allclose(V, torch.tensor([[0.5], [0.4]], dtype=torch.float64), atol=1e-15)


def test_zero_ridge_gives_minimum_norm_interpolant():
    # Phi = (1, 1), T = 2: solutions v1 + v2 = 2, minimum norm (1, 1)
    V = ridge_output_weights(torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0]]), ridge=0.0)
    assert torch.allclose(V, torch.tensor([[1.0], [1.0]], dtype=torch.float64), atol=1e-15)


def test_ridge_dual_equals_primal_form():
    g = torch.Generator().manual_seed(0)
    phi, T = torch.randn(5, 9, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    primal = torch.linalg.solve(phi.T @ phi + 0.3 * torch.eye(9, dtype=torch.float64), phi.T @ T)
    assert torch.allclose(ridge_output_weights(phi, T, 0.3), primal, atol=1e-12)


def test_fit_changes_only_v_and_interpolates_the_targets():
    torch.manual_seed(0)
    model = build_net("snin", skip={"n": 40, "seed": 1, "input_shape": (1, 8, 8)}, widths=(2, 2, 2),
                      activation="sigmoid").double()
    x, labels = torch.randn(20, 1, 8, 8, dtype=torch.float64), torch.arange(20) % 10
    fitted = fit_random_features(model, x, labels, ridge_rel=1e-12)
    phi, base = skip_features_and_base(model, x)
    assert torch.allclose(model(x), base + model.skip(phi), atol=1e-12)  # f = B + Phi V
    for (name, p), q in zip(model.named_parameters(), fitted.parameters()):
        assert name.startswith("skip.") or torch.equal(p, q), f"{name} changed"
    out = fitted(x)
    assert torch.allclose(out, torch.nn.functional.one_hot(labels, 10).double(), atol=1e-6)
    assert bool((out.argmax(1) == labels).all())
