"""RetainedGraphHessian (double backward) against the exact Hessian from HessianOperator (forward-over-reverse)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from losslab.probes.hessian import HessianOperator, RetainedGraphHessian, exact_hessian


def _net_and_data(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    model = model.double()
    model.train()
    model(torch.randn(16, 1, 6, 6, dtype=torch.float64))  # non-trivial BatchNorm running statistics
    x = torch.randn(12, 1, 6, 6, dtype=torch.float64)
    return model, x


def test_products_equal_exact_hessian_columns_for_cross_entropy_in_eval_mode():
    model, x = _net_and_data(0)
    y = torch.randint(0, 4, (12,), generator=torch.Generator().manual_seed(1))
    h = exact_hessian(HessianOperator(model, F.cross_entropy, (x, y)))  # eval-mode BatchNorm by convention
    op = RetainedGraphHessian(model, F.cross_entropy, x, y)
    basis = torch.eye(op.dim, dtype=torch.float64)
    columns = torch.stack([op.matvec(basis[:, i]) for i in range(op.dim)], dim=1)
    assert op.dim == h.shape[0]
    assert torch.allclose(columns, h, rtol=0, atol=1e-10 * h.abs().max())
    assert model.training, "the model's training flag must be restored"


def test_repeated_products_reuse_the_graph_and_follow_the_loss():
    model, x = _net_and_data(2)
    y = torch.randn(12, 4, dtype=torch.float64)
    h = exact_hessian(HessianOperator(model, F.mse_loss, (x, y)))
    op = RetainedGraphHessian(model, F.mse_loss, x, y)
    v = torch.randn(op.dim, dtype=torch.float64)
    first, second = op.matvec(v), op.matvec(v)
    assert torch.equal(first, second)
    assert torch.allclose(first, h @ v, rtol=0, atol=1e-10 * (h @ v).abs().max())
    # negative control: a different loss gives a different operator
    other = RetainedGraphHessian(model, F.l1_loss, x, y)
    assert not torch.allclose(other.matvec(v), first, atol=1e-6)
