"""Parameter and hidden-neuron counts."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_hidden_neurons(model: nn.Module, input_shape) -> int:
    """Scalars output by the model's activation modules on one input (NMH19's "hidden neurons")."""
    total = 0

    def hook(_module, _inputs, output):
        nonlocal total
        total += output[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if getattr(m, "is_hidden_activation", False)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def mark_hidden(module: nn.Module) -> nn.Module:
    """Tag an activation module so count_hidden_neurons and SkipToOutput see its outputs."""
    module.is_hidden_activation = True
    return module
