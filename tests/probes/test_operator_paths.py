"""Every public product path of every operator against one exact reference Hessian.

Reference: torch.autograd.functional.hessian of R(θ) = Σ_b (n_b/N) loss_b(θ), written out here from
the model and the batches (not through the operator). The setting is chosen so that plausible slips
give different numbers: unequal batches (weights 5/8, 3/8, not 1/2), BatchNorm with running statistics
far from the batch statistics (eval vs train mode differ), and a model handed over in train mode.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from losslab.probes.gauss_newton import GaussNewtonOperator, ResidualOperator
from losslab.probes.hessian import HessianOperator, RetainedGraphHessian, exact_hessian
from losslab.probes.operators import MatrixOperator, matrix_with_spectrum

SIZES = (5, 3)  # unequal batches: weights 5/8 and 3/8


def _problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 3)).double()
    with torch.no_grad():  # running statistics far from any batch's: eval and train BatchNorm differ
        model[1].running_mean.fill_(0.7)
        model[1].running_var.fill_(2.5)
    model.train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(sum(SIZES), 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (sum(SIZES),), generator=g)
    return model, list(zip(x.split(SIZES), y.split(SIZES)))


def _reference_hessian(model, batches, loss_fn=F.cross_entropy):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    buffers = dict(model.named_buffers())
    n = sum(x.shape[0] for x, _ in batches)

    def risk(flat):
        params = dict(zip(names, (t.view(s) for t, s in zip(flat.split([s.numel() for s in shapes]), shapes))))
        return sum(x.shape[0] / n * loss_fn(functional_call(model, {**params, **buffers}, (x,)), y)
                   for x, y in batches)

    model.eval()
    h = torch.autograd.functional.hessian(risk, theta)
    model.train()
    return h


@pytest.fixture(scope="module")
def problem():
    model, batches = _problem()
    return model, batches, _reference_hessian(model, batches)


def _close(got, want):
    return torch.allclose(got, want, rtol=0, atol=1e-12 * want.abs().max())


@pytest.mark.parametrize("method", ["auto", "retained", "forward"])
def test_hessian_operator_matvec_and_matmat_equal_the_reference(problem, method):
    model, batches, h = problem
    op = HessianOperator(model, F.cross_entropy, batches, method=method)
    g = torch.Generator().manual_seed(2)
    v, block = torch.randn(op.dim, generator=g, dtype=torch.float64), torch.randn(op.dim, 5, generator=g,
                                                                                   dtype=torch.float64)
    assert _close(op.matvec(v), h @ v) and _close(op @ v, h @ v)
    assert _close(op.matmat(block), h @ block) and _close(op.matmat(block, chunk=2), h @ block)
    assert _close(exact_hessian(op, chunk=7), h)
    lin = op.to_linear_operator()
    assert np.allclose(lin.matvec(v.numpy()), (h @ v).numpy(), rtol=0, atol=1e-12)
    assert np.allclose(lin.matmat(block.numpy()), (h @ block).numpy(), rtol=0, atol=1e-12)
    assert model.training and model[1].training, "the model's training flags must be restored"
    kept = [graph is not None for graph in op.graphs()]
    assert kept == {"auto": [True, True], "retained": [True, True], "forward": [False, False]}[method]


def test_memory_budget_keeps_the_graphs_that_fit_and_products_stay_exact(problem):
    """Fallback: a budget below two batches' graphs keeps the first, computes the second forward-over-reverse."""
    model, batches, h = problem
    everything = HessianOperator(model, F.cross_entropy, batches, method="retained")
    everything.graphs()
    first, second = everything.graph_bytes
    assert first > 0 and second > 0
    budget = first + second // 2  # room for batch 1's graph, not for batch 2's as well
    op = HessianOperator(model, F.cross_entropy, batches, memory_budget=budget)
    assert [graph is not None for graph in op.graphs()] == [True, False]
    v = torch.randn(op.dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert _close(op.matvec(v), h @ v) and _close(op.matmat(torch.stack([v, -2 * v], 1))[:, 1], -2 * h @ v)
    none_fit = HessianOperator(model, F.cross_entropy, batches, memory_budget=0)
    assert [graph is not None for graph in none_fit.graphs()] == [False, False]
    assert _close(none_fit.matvec(v), h @ v)


def test_retained_graph_hessian_is_the_one_batch_operator_and_casts_the_input(problem):
    model, batches, _ = problem
    x, y = batches[0]
    x = x.float()
    h = _reference_hessian(model, [(x.double(), y)])
    op = RetainedGraphHessian(model, F.cross_entropy, x, y)  # float32 input, float64 model
    v = torch.randn(op.dim, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert _close(op.matvec(v), h @ v)
    assert _close(op.matmat(torch.stack([v, 3 * v], 1)), torch.stack([h @ v, 3 * h @ v], 1))


def test_parameters_are_not_modified_and_the_operator_is_a_snapshot(problem):
    model, batches, h = problem
    before = [p.detach().clone() for p in model.parameters()]
    op = HessianOperator(model, F.cross_entropy, batches)
    v = torch.ones(op.dim, dtype=torch.float64)
    first = op.matvec(v)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters()), "products must not accumulate .grad"
    assert torch.equal(op.matvec(v), first), "repeated products through the kept graph agree bit for bit"


def test_gauss_newton_and_residual_matvec_and_matmat_agree(problem):
    model, batches, h = problem
    ggn, residual = GaussNewtonOperator(model, F.cross_entropy, batches), ResidualOperator(model, F.cross_entropy,
                                                                                           batches)
    block = torch.randn(ggn.dim, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    g_cols = torch.stack([ggn.matvec(block[:, i]) for i in range(4)], 1)
    r_cols = torch.stack([residual.matvec(block[:, i]) for i in range(4)], 1)
    assert _close(ggn.matmat(block), g_cols) and _close(residual.matmat(block), r_cols)
    assert _close(g_cols + r_cols, h @ block)
    assert r_cols.abs().max() > 1e-3 * (h @ block).abs().max(), "away from a minimum H ≠ G"


def test_matrix_operator_paths():
    a = matrix_with_spectrum([3.0, -2.0, 0.5, 7.0], seed=3)
    op = MatrixOperator(a)
    v = torch.tensor([1.0, -2.0, 0.5, 4.0], dtype=torch.float64)
    assert torch.equal(op.matvec(v), a @ v) and torch.equal(op @ v, a @ v)
    assert torch.equal(op.matmat(torch.stack([v, 2 * v], 1)), a @ torch.stack([v, 2 * v], 1))
    assert torch.allclose(torch.linalg.eigvalsh(a), torch.tensor([-2.0, 0.5, 3.0, 7.0], dtype=torch.float64),
                          rtol=0, atol=1e-14)


def test_unknown_method_is_refused(problem):
    model, batches, _ = problem
    with pytest.raises(ValueError):
        HessianOperator(model, F.cross_entropy, batches, method="double")
