"""NMH19 skip-networks: N randomly chosen hidden neurons wired linearly to the output (Fig. 2, §5)."""

from __future__ import annotations

import torch
from torch import nn


class SkipToOutput(nn.Module):
    """f(x) = base(x) + V^T h_S(x), h_S the outputs of N hidden neurons drawn uniformly (seeded) from all
    outputs of the base network's hidden activation modules (those tagged by mark_hidden)."""

    def __init__(self, base: nn.Module, input_shape, n_skip: int, seed: int, classes: int = 10,
                 only_first: int | None = None):
        super().__init__()
        self.base = base
        self.hidden = [m for m in base.modules() if getattr(m, "is_hidden_activation", False)]
        if only_first is not None:  # NMH19: DenseNet121 draws from the first dense block only
            self.hidden = self.hidden[:only_first]
        sizes = self._hidden_sizes(input_shape)
        total = sum(sizes)
        if n_skip > total:
            raise ValueError(f"n_skip={n_skip} > {total} hidden neurons")
        g = torch.Generator().manual_seed(seed)
        chosen = torch.randperm(total, generator=g)[:n_skip].sort().values
        offsets = torch.tensor([0] + sizes).cumsum(0)
        for i in range(len(sizes)):
            local = chosen[(chosen >= offsets[i]) & (chosen < offsets[i + 1])] - offsets[i]
            self.register_buffer(f"skip_index_{i}", local)
        self.total_hidden = total
        self.skip = nn.Linear(n_skip, classes, bias=False)

    def _hidden_sizes(self, input_shape) -> list[int]:
        sizes = []
        hooks = [m.register_forward_hook(lambda _m, _i, o: sizes.append(o[0].numel())) for m in self.hidden]
        was_training = self.base.training
        self.base.eval()
        with torch.no_grad():
            self.base(torch.zeros(1, *input_shape))
        self.base.train(was_training)
        for h in hooks:
            h.remove()
        return sizes

    def forward(self, x):
        # hooks live only during this call, so copy.deepcopy / torch.func see a plain module
        captured: list[torch.Tensor] = []
        handles = [m.register_forward_hook(lambda _m, _i, o: captured.append(o.flatten(1))) for m in self.hidden]
        try:
            out = self.base(x)
        finally:
            for h in handles:
                h.remove()
        picked = [h[:, getattr(self, f"skip_index_{i}")] for i, h in enumerate(captured)]
        return out + self.skip(torch.cat(picked, dim=1))
