"""losslab.experiments.wze17.curvature.hessian_summary's exact branch (the gpu/paper tiers' Fig. 2-3 measurement,
replaced by Lanczos at smoke scale: too slow on CPU) against torch.autograd.functional.hessian."""

import torch
import torch.nn.functional as F
from torch.func import functional_call

from losslab.data import Split
from losslab.experiments.wze17.attack_minima import tiny_fitted_convnet
from losslab.experiments.wze17.curvature import TOP_K, hessian_summary


def test_exact_summary_is_the_spectrum_of_the_autograd_hessian():
    model, x, y = tiny_fitted_convnet(seed=3)
    summary = hessian_summary(model, Split(x, y), exact=True, seed=0)
    model64 = model.double()
    names = [n for n, _ in model64.named_parameters()]
    shapes = [p.shape for _, p in model64.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for _, p in model64.named_parameters()])

    def risk(theta):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = theta[start:start + shape.numel()].reshape(shape)
            start += shape.numel()
        return F.cross_entropy(functional_call(model64, params, (x.double(),)), y)

    lam = torch.linalg.eigvalsh(torch.autograd.functional.hessian(risk, flat)).flip(0)
    assert summary["dtype"] == "float64" and len(summary["eigenvalues"]) == flat.numel()
    assert torch.allclose(torch.tensor(summary["eigenvalues"], dtype=torch.float64), lam, atol=1e-10)
    assert summary["top"] == summary["eigenvalues"][:TOP_K] and summary["most_negative"] == summary["eigenvalues"][-1]
