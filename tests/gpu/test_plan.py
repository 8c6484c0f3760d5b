"""The compute plan (losslab/plan.py): its FLOP count against hand counts and flop_counter."""

from collections import Counter

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fixtures.recipes import RECIPES
from losslab.plan import plan, recipe_cost, render, runs_from_events, step_flops, unplanned


def test_step_flops_of_an_mlp_equal_the_hand_count():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    b, macs = 8, 784 * 32 + 32 * 10
    # forward 2 b macs; backward: weight gradients 2 b macs, input gradient of the second layer only
    assert step_flops(model, torch.zeros(b, 1, 28, 28), "cross_entropy") == 2 * b * macs * 2 + 2 * b * 32 * 10
    assert step_flops(model, torch.zeros(b, 1, 28, 28), "cross_entropy", backward=False) == 2 * b * macs


def test_recipe_flops_equal_flop_counter_on_a_whole_epoch_of_a_small_convnet():
    recipe = RECIPES["wze17-mlenet-mnist512"]["cpu"]  # mLeNet, SGD batch 64, 512 images, eval every epoch
    cost = recipe_cost(recipe, runs=1)
    from fixtures.recipes import make_model
    model = make_model(recipe, 0)
    with FlopCounterMode(display=False) as counter:
        x = torch.zeros(recipe.config.batch_size, 1, 28, 28)
        nn.functional.cross_entropy(model(x), torch.zeros(len(x), dtype=torch.long)).backward()
    per_step = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            model(torch.zeros(recipe.n_train + recipe.n_test, 1, 28, 28))
    per_eval = counter.get_total_flops()
    steps = recipe.n_train // recipe.config.batch_size
    assert cost.flops_per_run == recipe.config.epochs * (steps * per_step + per_eval)


def test_plan_counts_distinct_requested_runs_and_totals():
    ask = {"kind": "request", "tier": "gpu", "recipe": "wze17-mlenet-mnist512"}
    events = [dict(ask, seed=1), dict(ask, seed=2), dict(ask, seed=2), dict(ask, seed=3, init="zeros"),
              dict(ask, kind="start", seed=1), dict(ask, tier="cpu", seed=9)]
    runs = runs_from_events(events + [dict(ask, recipe="derived-in-a-test", seed=1)], "gpu")
    assert runs == Counter({"wze17-mlenet-mnist512": 3, "derived-in-a-test": 1})
    assert [c.recipe for c in plan("gpu", runs)] == ["wze17-mlenet-mnist512"]
    assert unplanned("gpu", runs) == ["derived-in-a-test"]
    cost = recipe_cost(RECIPES["wze17-mlenet-mnist512"]["gpu"], runs=3)
    text = render("gpu", [cost])
    assert "wze17-mlenet-mnist512" in text and "total: 3 trainings of 1 recipes" in text
