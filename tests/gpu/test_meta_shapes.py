"""Every recipe's network at every tier (including paper-tier nets never trained here) maps a batch to the
right output shape, checked on torch.device("meta"): shapes only, no memory, no FLOPs."""

import torch

from fixtures.recipes import RECIPES
from losslab.nets import build_net
from losslab.plan import SAMPLE_SHAPES

OUTPUTS = {"mnist": 10, "cifar10": 10, "svhn": 10, "teacher": 2, "cubic": 1}


def test_every_recipe_net_has_the_right_output_shape_on_meta():
    checked = {}
    for name, tiers in RECIPES.items():
        for tier, recipe in tiers.items():
            if recipe.skip_neurons:  # skip wiring picks neurons with torch.nonzero: no meta kernel; smoke runs them
                continue
            data = recipe.data.split("-")[0]
            key = (recipe.net, recipe.net_kwargs, data, recipe.dtype)
            if key in checked:
                continue
            dtype = getattr(torch, recipe.dtype)
            with torch.device("meta"):
                out = build_net(recipe.net, **dict(recipe.net_kwargs)).to(dtype)(
                    torch.empty((2,) + SAMPLE_SHAPES[data], dtype=dtype))
            checked[key] = (name, tier)
            assert tuple(out.shape) == (2, OUTPUTS[data]) and out.dtype == dtype, (name, tier, out.shape)
    assert len(checked) > 1
