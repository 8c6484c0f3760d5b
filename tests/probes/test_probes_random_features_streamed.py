"""The memory-bounded (CG, streamed) rand fit of losslab.probes.random_features against exact answers."""

import torch

from losslab.nets import build_net
from losslab.probes.random_features import (block_conjugate_gradient, fit_random_features,
                                            fit_random_features_streamed, ridge_output_weights,
                                            skip_features_and_base)


def test_cg_solves_a_2x2_system_exactly_in_two_steps():
    # [[4, 1], [1, 3]] x = (1, 2): x = (1/11, 7/11); CG is exact after n = 2 steps
    A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    X, info = block_conjugate_gradient(lambda v: A @ v, torch.tensor([[1.0], [2.0]], dtype=torch.float64),
                                       max_iters=2, rtol=0.0)
    assert torch.allclose(X, torch.tensor([[1 / 11], [7 / 11]], dtype=torch.float64), atol=1e-15)
    assert info["iterations"] == 2


def test_block_cg_matches_a_direct_solve_column_by_column():
    g = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64)).Q
    A = Q @ torch.diag(torch.logspace(0, 3, 30, dtype=torch.float64)) @ Q.T  # condition number 1e3
    B = torch.randn(30, 4, generator=g, dtype=torch.float64) * torch.tensor([1.0, 1e-3, 1e3, 0.0], dtype=torch.float64)
    X, info = block_conjugate_gradient(lambda v: A @ v, B, max_iters=300, rtol=1e-12)
    assert torch.allclose(X, torch.linalg.solve(A, B), rtol=1e-9, atol=1e-12)
    assert info["max_rel_residual"] <= 1e-12 and info["iterations"] < 300
    assert torch.equal(X[:, 3], torch.zeros(30, dtype=torch.float64))  # a zero right-hand side stays zero


def test_cg_stops_at_max_iters_and_reports_the_residual():
    A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
    _, info = block_conjugate_gradient(lambda v: A @ v, torch.ones(10, 1, dtype=torch.float64), max_iters=3,
                                       rtol=1e-14)
    assert info["iterations"] == 3 and info["max_rel_residual"] > 1e-6


def _tiny_skip_net():
    torch.manual_seed(0)
    return build_net("snin", skip={"n": 40, "seed": 1, "input_shape": (1, 8, 8)}, widths=(2, 2, 2),
                     activation="sigmoid").double()


def test_streamed_fit_equals_the_dual_ridge_fit():
    # same ridge problem, two solvers: the streamed CG (batches of 7 over 20 inputs) and the dual closed form
    model = _tiny_skip_net()
    x, labels = torch.randn(20, 1, 8, 8, dtype=torch.float64), torch.arange(20) % 10
    exact = fit_random_features(model, x, labels, ridge_rel=1e-3)
    streamed, info = fit_random_features_streamed(model, x, labels, ridge_rel=1e-3, batch_size=7, max_iters=2000,
                                                  rtol=1e-13)
    assert torch.allclose(streamed.skip.weight, exact.skip.weight, rtol=1e-7, atol=1e-9)
    phi, _ = skip_features_and_base(model, x)
    assert abs(info["ridge"] / (1e-3 * float((phi * phi).sum(1).mean())) - 1) < 1e-12
    for (name, p), q in zip(model.named_parameters(), streamed.parameters()):
        assert name.startswith("skip.") or torch.equal(p, q), f"{name} changed"


def test_streamed_fit_interpolates_like_the_exact_minimum_norm_solution():
    # ridge -> 0: the minimum-norm interpolant of Y - B (CG from V = 0 stays in the row space of Phi)
    model = _tiny_skip_net()
    x, labels = torch.randn(20, 1, 8, 8, dtype=torch.float64), torch.arange(20) % 10
    phi, base = skip_features_and_base(model, x)
    V = ridge_output_weights(phi, torch.nn.functional.one_hot(labels, 10).double() - base, ridge=0.0)
    streamed, _ = fit_random_features_streamed(model, x, labels, ridge_rel=0.0, batch_size=8, max_iters=5000,
                                               rtol=1e-14)
    assert torch.allclose(streamed.skip.weight.T, V, rtol=1e-5, atol=1e-7)
    assert bool((streamed(x).argmax(1) == labels).all())
