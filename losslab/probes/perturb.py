"""Perturb-and-retrain tools for LP17 §4.2-4.4 / App. B.4, E: layer-wise noise, interpolation, full-batch GD.

Layer-wise noise (LP17 §4.4): every layer's weight tensor W (conv / linear kernels; biases only if asked)
gets W + N(0, (scale * s(W))^2) with s(W) = std(W) (rule "std", the paper's 0.1·S) or mean |W| (rule
"mean_abs", App. E's 0.01·m).
Nets with BatchNorm are evaluated with the running statistics recomputed on the full training set
(`recalibrate_batchnorm`), so "train error" is a function of the weights alone.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

NOISE_RULES = ("std", "mean_abs")


def flat_weights(model: nn.Module) -> torch.Tensor:
    """All parameters as one float64 vector (the point in weight space)."""
    return torch.cat([p.detach().reshape(-1).double().cpu() for p in model.parameters()])


def layer_scale(weight: torch.Tensor, rule: str = "std") -> float:
    """s(W): std(W) ("std", 0 for a single entry) or mean |W| ("mean_abs")."""
    if rule == "std":
        return float(weight.std()) if weight.numel() > 1 else 0.0
    if rule == "mean_abs":
        return float(weight.abs().mean())
    raise ValueError(f"unknown noise rule {rule!r}; known: {NOISE_RULES}")


def is_layer_weight(parameter: torch.Tensor) -> bool:
    """A layer's weight (kernel / matrix, >= 2 dims), as opposed to a bias or a BN scale/shift (1 dim)."""
    return parameter.dim() >= 2


@torch.no_grad()
def layerwise_noise(model: nn.Module, scale: float, rule: str = "std", seed: int = 0,
                    biases: bool = False) -> nn.Module:
    """In place: W <- W + scale * s(W) * N(0, I) for every layer weight W (every parameter if biases);
    returns the model."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if not (biases or is_layer_weight(p)):
            continue
        s = layer_scale(p, rule)
        noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
        p.add_((scale * s * noise).to(p.dtype).to(p.device))
    return model


@torch.no_grad()
def interpolate(model_a: nn.Module, model_b: nn.Module, alpha: float) -> nn.Module:
    """A new model with parameters (1 - alpha) * a + alpha * b (buffers copied from a: recalibrate BN)."""
    out = copy.deepcopy(model_a)
    for p, pa, pb in zip(out.parameters(), model_a.parameters(), model_b.parameters()):
        p.copy_((1 - alpha) * pa + alpha * pb)
    return out


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Running BN statistics := the mean and biased variance of one full batch x, the statistics a train-mode
    forward of x normalises with, so eval mode on x reproduces that forward."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    was_training = model.training
    saved = [m.momentum for m in bns]
    counts = {}
    hooks = [m.register_forward_hook(lambda m, inp, out: counts.__setitem__(m, inp[0].numel() // inp[0].shape[1]))
             for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    model(x)
    for h in hooks:
        h.remove()
    for m, mom in zip(bns, saved):
        m.momentum = mom
        n = counts[m]
        m.running_var.mul_((n - 1) / n)  # PyTorch stores the unbiased variance; the forward uses the biased one
    model.train(was_training)
    return model


@torch.no_grad()
def error_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, calibrate_x: torch.Tensor | None = None
                   ) -> tuple[float, float]:
    """(classification error, mean cross-entropy) of x in eval mode, i.e. BN with its running statistics;
    those are first recomputed on calibrate_x if given (x itself, or another batch). The mode is restored."""
    if calibrate_x is not None:
        recalibrate_batchnorm(model, calibrate_x)
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    return float((out.argmax(1) != y).double().mean()), float(F.cross_entropy(out, y))


def full_batch_gd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                  snapshot=None, stop_at_zero_error: bool = False) -> list[float]:
    """Full-batch gradient descent on the cross-entropy (LP17's GD phase), in place.

    Returns the train error at the weights before the first step and after every step (epochs + 1
    values), read off the full-batch forward (BN with the exact full-batch statistics: the function GD
    minimises); on return the BN running statistics are those of x at the final weights and the model is in
    the mode it was handed over in. snapshot(model) after every step; stop_at_zero_error: no step is taken
    from weights whose full-batch train error is 0 (fewer values are returned)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    errors = []
    was_training = model.training
    model.train()
    for _ in range(epochs):
        out = model(x)
        errors.append(float((out.detach().argmax(1) != y).double().mean()))
        if stop_at_zero_error and errors[-1] == 0:
            errors.pop()
            break
        loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if snapshot is not None:
            snapshot(model)
    recalibrate_batchnorm(model, x)
    model.train(was_training)
    errors.append(error_and_loss(model, x, y)[0])
    return errors


def sgd_epochs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: range, lr: float, batch_size: int,
               seed: int, snapshot=None) -> None:
    """Plain mini-batch SGD in place over the given epoch numbers; epoch e shuffles with seed (seed, e), so a
    branch continued from a trunk snapshot sees the same batches as the trunk. snapshot(epoch) after each."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in epochs:
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
        model.train()
        for start in range(0, len(y), batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if snapshot is not None:
            snapshot(epoch)
