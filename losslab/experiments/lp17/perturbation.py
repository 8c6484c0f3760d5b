"""LP17 §4.2-4.4, App. B.4, E: perturb a zero-train-error model, retrain with full-batch GD, compare points.

Every function takes models and tensors (no pytest, no cache): the claim tests hand in the cached nets.
Distances are Euclidean in the flat parameter vector, relative to |w| of the reference model.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from losslab.probes.perturb import (error_and_loss, flat_weights, full_batch_gd, interpolate, layerwise_noise,
                                    recalibrate_batchnorm)


@dataclass
class Retrained:
    """One perturb-and-retrain run from a base model."""

    seed: int
    perturbed: torch.Tensor  # flat weights right after the noise
    error_after_noise: float  # train error right after the noise (BN recalibrated on the train set)
    errors: list  # train error before the first GD step and after each step
    model: nn.Module  # after retraining

    @property
    def final(self) -> torch.Tensor:
        return flat_weights(self.model)


def perturb_and_retrain(base: nn.Module, x, y, scale: float, rule: str, seed: int, epochs: int, lr: float
                        ) -> Retrained:
    """Layer-wise noise scale·s(W) on base's layer weights (LP17 §4.4), then `epochs` full-batch GD steps."""
    model = layerwise_noise(copy.deepcopy(base), scale, rule, seed)
    perturbed = flat_weights(model)
    after = error_and_loss(model, x, y, calibrate_x=x)[0]
    errors = full_batch_gd(model, x, y, epochs, lr)
    return Retrained(seed, perturbed, after, errors, model)


def perturbation_profile(model: nn.Module, x, y, sizes, draws: int, seed: int) -> dict:
    """Train loss and error after layer-wise noise c·S, `draws` draws per size c (LP17 Sec. 5), against the
    unperturbed model's; BN recalibrated on x at every point."""
    base_error, base_loss = error_and_loss(copy.deepcopy(model), x, y, calibrate_x=x)
    rows = []
    for k, (size, draw) in enumerate(itertools.product(sizes, range(draws))):
        error, loss = error_and_loss(layerwise_noise(copy.deepcopy(model), size, "std", seed + k), x, y,
                                     calibrate_x=x)
        rows.append({"size": size, "loss increase": loss - base_loss, "error": error})
    return {"base loss": base_loss, "base error": base_error, "rows": rows,
            "lowered": sum(r["loss increase"] < 0 for r in rows),
            "mean loss increase per size": [float(np.mean([r["loss increase"] for r in rows if r["size"] == c]))
                                            for c in sizes]}


def relative_pairwise_distances(points, norm: float) -> list[float]:
    """|w_i - w_j| / norm over all pairs i < j."""
    return [float((a - b).norm()) / norm for a, b in itertools.combinations(points, 2)]


def separation(runs: list[Retrained], base: nn.Module) -> dict:
    """Where retraining left the runs, against where the noise alone put them (Fig. 5 C1, 42).

    For runs i, j with noise vectors d_i, d_j, independent draws put them sqrt(|d_i|^2 + |d_j|^2) apart;
    retained = min over pairs of |w_i - w_j| after retraining / that distance: -> 0 if the runs converge
    to one point (or share one draw), ~1 if GD moved none of them."""
    w0 = flat_weights(base)
    norm = float(w0.norm())
    noise = [float((r.perturbed - w0).norm()) for r in runs]
    after = relative_pairwise_distances([r.final for r in runs], norm)
    independent = [float(np.hypot(a, b)) / norm for a, b in itertools.combinations(noise, 2)]
    return {"pairwise after retraining": after,
            "pairwise after the noise alone": relative_pairwise_distances([r.perturbed for r in runs], norm),
            "independent-draw distance": independent,
            "retained": min(a / b for a, b in zip(after, independent)),
            "GD displacement": [float((r.final - r.perturbed).norm()) / norm for r in runs], "norm": norm}


def interpolation_curve(model_a: nn.Module, model_b: nn.Module, train, test, points: int) -> list[dict]:
    """Train/test error at `points` evenly spaced (1 - α) a + α b, BN recalibrated on the train set (Fig. 37)."""
    rows = []
    for alpha in np.linspace(0, 1, points):
        model = interpolate(model_a, model_b, float(alpha))
        recalibrate_batchnorm(model, train[0])
        rows.append({"alpha": float(alpha), "train_error": error_and_loss(model, *train)[0],
                     "test_error": error_and_loss(model, *test)[0]})
    return rows


def midpoint_excess(curve: list[dict], key: str) -> float:
    """Error at α = 1/2 minus the endpoints' mean error (> 0: a barrier)."""
    return curve[len(curve) // 2][key] - (curve[0][key] + curve[-1][key]) / 2


@dataclass
class Branches:
    """A full-batch GD trunk from init and noisy branches split off it (LP17 Fig. 4, 14, 16)."""

    trunk: list  # flat weights at epochs 0..end
    splits: list  # split epoch of each branch
    seeds: list  # noise seed of each branch
    right_after: list  # flat weights of each branch right after its noise
    ends: list  # flat weights of each branch at the trunk's last epoch
    snapshots: list  # per branch: flat weights at every epoch after its split
    first_layer_size: int  # entries of the first layer's weight (the paper's "layer 2"), at the vector's start


def branch_from_trunk(model: nn.Module, x, y, splits, end: int, scale: float, seeds, lr: float) -> Branches:
    """Train `model` by full-batch GD for `end` epochs; at each split epoch s and for each seed, a copy gets
    layer-wise noise scale·S and continues full-batch GD to epoch `end` (Fig. 4: splits 0/10/50/200, 0.25·S)."""
    trunk, states = [flat_weights(model)], {0: copy.deepcopy(model)}

    def keep(m):
        trunk.append(flat_weights(m))
        if len(trunk) - 1 in splits:
            states[len(trunk) - 1] = copy.deepcopy(m)
    full_batch_gd(model, x, y, end, lr, keep)
    out = Branches(trunk, [], [], [], [], [], next(model.parameters()).numel())
    for split, seed in itertools.product(splits, seeds):
        branch = layerwise_noise(copy.deepcopy(states[split]), scale, "std", seed)
        snaps = [flat_weights(branch)]
        full_batch_gd(branch, x, y, end - split, lr, lambda m: snaps.append(flat_weights(m)))
        out.splits.append(split)
        out.seeds.append(seed)
        out.right_after.append(snaps[0])
        out.ends.append(snaps[-1])
        out.snapshots.append(snaps)
    return out


def branch_distances(branches: Branches, at_end: bool = True) -> list[float]:
    """|w_branch - w_trunk| / |w_trunk(end)| at the last epoch (at_end) or right after the split."""
    norm = float(branches.trunk[-1].norm())
    if at_end:
        return [float((w - branches.trunk[-1]).norm()) / norm for w in branches.ends]
    return [float((w - branches.trunk[s]).norm()) / norm for w, s in zip(branches.right_after, branches.splits)]


def planted_ordering(x, noise, strength: float) -> np.ndarray:
    """Standardised `noise` + strength · standardised x: a planted monotone relation of strength `strength`
    (> 0 rising, < 0 falling) on measured scatter, for the power of a rank-correlation check."""
    def z(v):
        v = np.asarray(v, float)
        return (v - v.mean()) / v.std()
    return z(noise) + strength * z(x)


# Per tier: what the paper leaves open or the tier reduces. The paper's own numbers (noise sizes, 200 / 400
# retraining epochs, 4 runs, split epochs) come from the claims' TOML criteria.
SETTINGS = {
    # cpu: M_final's GD phase (at most the paper's 400 epochs) stops at the first zero train error: run to the
    # end on 128 images it widens the margins until 0.1·S noise no longer breaks zero train error (0/8 draws
    # after 100 epochs), so the return to zero error would not be exercised. GD lr 0.01 = the paper's SGD lr
    # (it gives none for GD); from the SGD end point lr 0.05 / 0.02 first spike to 20% / 3% train error.
    "cpu": {"m_final_gd_epochs": 400, "m_final_stop_at_zero": True, "gd_lr": 0.01, "trunk_epochs": 150,
            "split_scale": 0.5, "branch_seeds": 5,
            "reduced": "128 CIFAR-10 images, DCNN widths (8, 16, 16) + hidden 32 (12,266 params), SGD batch 32, "
                       "M_final's GD phase stopped at the first zero train error, BGD trunk 150 epochs "
                       "with the split epochs halved"},
    # gpu / paper: M_final = 60 SGD + 400 GD epochs (§4.4);
    # trunk 300 BGD epochs (Fig. 4 does not say how long the branches run after the last split at 200).
    "gpu": {"m_final_gd_epochs": 400, "m_final_stop_at_zero": False, "gd_lr": 0.01, "trunk_epochs": 300,
            "split_scale": 1.0, "branch_seeds": 5, "reduced": None},
}
SETTINGS["paper"] = SETTINGS["gpu"]
