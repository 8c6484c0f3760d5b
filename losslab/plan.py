"""The compute plan of a tier: per recipe, runs x epochs x samples, FLOPs (torch.utils.flop_counter on one
batch), peak memory and GPU-hours on a stated reference GPU (`python -m losslab plan --tier gpu|paper`).

Runs per recipe come from the "request" progress events of a smoke-scale run of the tier (`pytest claims
--tier T --scale smoke --report DIR`: the same tests asking for the same (recipe, seed) pairs), so the plan
counts what the tests train; training done outside recipes (e.g. LP17's extra full-batch GD phases) is not in it.
Time per run = FLOPs / (peak x utilization) + steps x launch overhead: small nets are overhead-bound.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

# Reference GPU (vendor datasheet, dense): H100 SXM 80 GB, FP32 67 TFLOP/s, FP64 (tensor cores) 67 TFLOP/s.
# Utilization 0.4 of peak for eager PyTorch convnets and ~10 us x ~100 kernels per optimizer step: stated
# assumptions, to be replaced by scripts/gpu_check.sh's measured steps/s on the first GPU session.
REFERENCE_GPU = "NVIDIA H100 SXM 80 GB"
PEAK_FLOPS = {"float32": 67e12, "float64": 67e12}
UTILIZATION = 0.4
STEP_OVERHEAD_S = 1e-3  # per optimizer step and per evaluation batch
GPU_TIER_BUDGET_GPU_HOURS = 8.0  # issue 20: the nightly gpu tier on one H100-class GPU
SAMPLE_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32), "cubic": (1,), "teacher": (10,)}


def step_flops(model: torch.nn.Module, x: torch.Tensor, loss: str, backward: bool = True) -> int:
    """FLOPs of one forward (+ backward) pass of `model` on batch `x`, counted by torch.utils.flop_counter."""
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        target = torch.zeros(len(x), dtype=torch.long) if loss == "cross_entropy" else torch.zeros_like(out)
        value = F.cross_entropy(out, target) if loss == "cross_entropy" else F.mse_loss(out, target)
        if backward:
            value.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def activation_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd saves for the backward pass of one forward pass on `x` (the activations' memory)."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total[0]


@dataclass
class RecipeCost:
    recipe: str
    claim: str
    runs: int
    epochs: int
    samples: int  # per epoch: training images + attack images
    flops_per_run: float
    peak_bytes: int
    gpu_hours: float  # all runs


@lru_cache(maxsize=None)
def _net_profile(recipe, probe_batch: int = 2) -> tuple[float, float, int, int, int]:
    """(train FLOPs per sample, eval FLOPs per sample, parameter bytes, activation bytes per sample, sample
    bytes) of the recipe's net; recipes differing only in data size or schedule share it."""
    from fixtures.recipes import make_model

    model = make_model(recipe, 0)
    x = torch.zeros((probe_batch,) + SAMPLE_SHAPES[recipe.data.split("-")[0]], dtype=getattr(torch, recipe.dtype))
    return (step_flops(model, x, recipe.config.loss) / probe_batch,
            step_flops(model, x, recipe.config.loss, backward=False) / probe_batch,
            sum(p.numel() * p.element_size() for p in model.parameters()),
            activation_bytes(model, x) // probe_batch, x[0].numel() * x.element_size())


def recipe_cost(recipe, runs: int) -> RecipeCost:
    """Upper bound (every epoch runs: no early stop) of `runs` trainings of `recipe` on the reference GPU."""
    from dataclasses import replace

    config = recipe.config
    net_only = replace(recipe, name="", seed_claim="", n_train=0, n_test=0, n_attack=0,
                       config=replace(config, epochs=0, lr=0.0, attack_weight=0.0))
    train_per_sample, eval_per_sample, params, act_per_sample, sample_bytes = _net_profile(net_only)
    batch = config.batch_size or recipe.n_train
    steps = math.ceil(recipe.n_train / batch)
    attacking = recipe.n_attack > 0 and config.attack_weight > 0
    attack_batch = (config.attack_batch_size or batch) if attacking else 0
    attack_epochs = max(config.epochs - config.attack_warmup_epochs, 0) if attacking else 0
    evals = math.ceil(config.epochs / config.eval_every)
    eval_samples = recipe.n_train + recipe.n_test + (recipe.n_attack if attacking else 0)
    flops = (config.epochs * recipe.n_train + attack_epochs * steps * attack_batch) * train_per_sample \
        + evals * eval_samples * eval_per_sample
    seconds = flops / (PEAK_FLOPS[recipe.dtype] * UTILIZATION) \
        + (config.epochs * steps + evals * math.ceil(eval_samples / config.eval_batch_size)) * STEP_OVERHEAD_S
    states = {"adam": 2, "sgd": 1 if config.momentum else 0}[config.optimizer]
    peak = params * (2 + states) + (recipe.n_train + recipe.n_attack + recipe.n_test) * sample_bytes \
        + act_per_sample * (batch + attack_batch)
    return RecipeCost(recipe.name, recipe.seed_claim, runs, config.epochs, recipe.n_train + attack_batch * steps,
                      flops, peak, runs * seconds / 3600)


def runs_from_events(events: list[dict], tier: str) -> Counter:
    """{recipe name: distinct trainings asked for} at `tier` from a run's progress events (the "request"
    events: one per (recipe, seed, init, labels) a test wants, before the cache or the smoke scale's
    seed sharing)."""
    wanted = {(e["recipe"], e["seed"], e.get("init"), e.get("labels")) for e in events
              if e["kind"] == "request" and e.get("tier") == tier}
    return Counter(recipe for recipe, *_ in wanted)


def plan(tier: str, runs: Counter) -> list[RecipeCost]:
    """The cost of every recipe trained at `tier`, most GPU-hours first (names not in RECIPES: see unplanned)."""
    from fixtures.recipes import RECIPES

    costs = [recipe_cost(RECIPES[name][tier], n) for name, n in runs.items() if tier in RECIPES.get(name, {})]
    return sorted(costs, key=lambda c: -c.gpu_hours)


def unplanned(tier: str, runs: Counter) -> list[str]:
    """Recipes a test derived itself (e.g. replace(recipe, name=..., epochs=...)): no full-scale version to cost."""
    from fixtures.recipes import RECIPES

    return sorted(name for name in runs if tier not in RECIPES.get(name, {}))


def render(tier: str, costs: list[RecipeCost], missing: list[str] = ()) -> str:
    lines = [f"compute plan, tier {tier}, on {REFERENCE_GPU} (FP32 {PEAK_FLOPS['float32'] / 1e12:.0f} TFLOP/s "
             f"x {UTILIZATION} utilization + {STEP_OVERHEAD_S * 1e3:.0f} ms per step); upper bound: no early stop",
             f"{'claim':<11} {'recipe':<44} {'runs':>4} {'epochs':>7} {'samples':>7} {'PFLOP/run':>10} "
             f"{'peak GiB':>8} {'GPU-h':>7}"]
    for c in costs:
        lines.append(f"{c.claim:<11} {c.recipe[:44]:<44} {c.runs:>4} {c.epochs:>7} {c.samples:>7} "
                     f"{c.flops_per_run / 1e15:>10.3f} {c.peak_bytes / 2**30:>8.2f} {c.gpu_hours:>7.2f}")
    total = sum(c.gpu_hours for c in costs)
    lines.append(f"total: {sum(c.runs for c in costs)} trainings of {len(costs)} recipes, {total:.2f} GPU-hours"
                 + (f" (budget {GPU_TIER_BUDGET_GPU_HOURS:g})" if tier == "gpu" else ""))
    if missing:
        lines.append(f"not costed (derived inside tests, no full-scale recipe): {', '.join(missing)}")
    return "\n".join(lines)


def smoke_run(tier: str, folder, *pytest_args: str, device: str = "cpu", workers: str | None = None,
              timeout_s: float = 1800) -> subprocess.CompletedProcess:
    """`pytest claims --tier TIER --device DEVICE` at scale smoke (in one process, or `-n WORKERS`) on fake data
    files in the real formats and a fresh cache under `folder`; the report (with progress.jsonl) goes to
    folder/report."""
    from losslab.data.fake import write_fake_data_dir

    folder = Path(folder)
    data = write_fake_data_dir(folder / "data")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # when run by a worker
    env = dict(inherited, LOSSLAB_SCALE="smoke", LOSSLAB_CACHE_DIR=str(folder / "cache"), LOSSLAB_DATA_DIR=str(data))
    parallel = ["-n", workers] if workers else ["-p", "no:xdist"]
    command = [sys.executable, "-m", "pytest", "claims", "--tier", tier, "--device", device, *parallel,
               "-p", "no:cacheprovider", "-q", "--report", str(folder / "report"), *pytest_args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s,
                          cwd=Path(__file__).resolve().parents[1])
