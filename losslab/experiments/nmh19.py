"""NMH19 Sec. 4 experiments (Tables 1-2, the "rand" remark of Sec. 3 end): the table cells, the paper's init, the
rand fit on random features, and the feature diagnostics that tell overfitting from signal loss.

A cell is one number of Table 1 or 2: (net, activation, variant plain | rand | sgd, C-10 or C-10+). plain = the
network as is; sgd = its skip-network (N random hidden neurons wired to the output) trained by SGD; rand = the
same skip-network at its init U with only V fitted (here: the float64 minimum-norm interpolant, the "simple
algorithm" of Sec. 3 end; the paper fits V by SGD on the convex problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from losslab.probes.random_features import fit_on_features, skip_features_and_base
from losslab.stats import mean_std, smallest_detected_shift, t_interval

NETS_TABLE2 = ("vgg11", "vgg13", "vgg16", "densenet121")
ACTIVATIONS = ("sigmoid", "softplus")  # softplus with beta = 20 (losslab.nets.activations)
# ridge = eps_float64 x trace(Phi Phi^T) = n eps x mean ||phi_i||^2: the rounding floor of the Gram's eigenvalues
# (>= eps lambda_max). Measured (cpu tier, N = n): at eps x mean ||phi_i||^2 the solve of the Gram (cond ~1e25)
# is rounding noise (train acc 0.13-0.55); at n eps and up to 1e-12 relative every fit interpolates (train acc 1.0);
# the former 1e-6 left 1% of the training images wrong.
EPS64 = torch.finfo(torch.float64).eps


@dataclass(frozen=True)
class Cell:
    """One number of Table 1 (MNIST, CNN13) or Table 2 (CIFAR-10, C-10 or C-10+ with augmentation)."""

    table: int
    net: str
    activation: str
    variant: str  # plain | rand | sgd
    augmented: bool
    paper_pct: float  # test accuracy %, Tables 1-2 (mean over 8 skip subsets for skip models)

    @property
    def paper_acc(self) -> float:
        """The paper's test accuracy as a fraction."""
        return self.paper_pct / 100

    @property
    def part(self) -> str:
        """The part id in reference/NMH19/NMH19-TAB{1,2}.toml."""
        data = "mnist" if self.table == 1 else ("c10p" if self.augmented else "c10")
        return f"{self.net}-{self.activation}-{data}-{self.variant}"

    @property
    def recipe(self) -> str:
        """The training recipe (fixtures/recipes.py): rand uses the sgd recipe's net at its init."""
        data = "mnist" if self.table == 1 else ("cifar10aug" if self.augmented else "cifar10")
        return f"nmh19-{self.net}-{self.activation}{'' if self.variant == 'plain' else '-skip'}-{data}"


# Table 1 (CNN13, MNIST) and Table 2 (C-10: plain / rand / SGD, C-10+: plain / SGD; rand has no C-10+ column)
_TABLE1 = {("sigmoid", "plain"): 11.35, ("sigmoid", "sgd"): 98.40, ("softplus", "plain"): 99.20,
           ("softplus", "sgd"): 99.14}
_TABLE2 = {  # (net, activation): (C-10 plain, rand, SGD, C-10+ plain, SGD)
    ("vgg11", "sigmoid"): (10, 62.81, 72.51, 10, 85.55), ("vgg13", "sigmoid"): (10, 61.50, 70.24, 10, 86.48),
    ("vgg16", "sigmoid"): (10, 61.57, 70.61, 10, 86.42),
    ("densenet121", "sigmoid"): (86.41, 52.07, 81.47, 90.93, 90.32),
    ("vgg11", "softplus"): (78.92, 64.49, 80.57, 88.62, 89.32), ("vgg13", "softplus"): (80.84, 61.42, 81.94, 90.58, 91.06),
    ("vgg16", "softplus"): (81.33, 61.46, 81.91, 90.68, 91.00),
    ("densenet121", "softplus"): (89.31, 55.39, 86.76, 94.20, 93.23),
}
CELLS = tuple([Cell(1, "cnn13", act, variant, False, pct) for (act, variant), pct in _TABLE1.items()]
              + [Cell(2, net, act, variant, aug, pct) for (net, act), row in _TABLE2.items()
                 for (variant, aug), pct in zip((("plain", False), ("rand", False), ("sgd", False),
                                                 ("plain", True), ("sgd", True)), row)])
CELLS_BY_PART = {cell.part: cell for cell in CELLS}


def cell(part: str) -> Cell:
    """The cell of a part id (KeyError for an unknown one)."""
    return CELLS_BY_PART[part]


# keras' he_normal: a normal truncated at +-2 std, std rescaled by 1 / 0.87962566 (the std of a standard normal
# truncated at +-2) so that the variance is 2 / fan_in after truncation
_TRUNCATED_STD = 0.87962566103423978


@torch.no_grad()
def he_truncated_normal_(model: nn.Module, seed: int) -> nn.Module:
    """NMH19 Sec. 4 init: every Conv2d / Linear weight ~ normal truncated at +-2 std with variance 2 / fan_in
    ("standard keras initialization"), biases 0; BatchNorm untouched. Seeded; returns model."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
            std = math.sqrt(2.0 / fan_in) / _TRUNCATED_STD
            m.weight.copy_(nn.init.trunc_normal_(torch.empty(m.weight.shape, dtype=torch.float64), 0.0, std,
                                                 -2 * std, 2 * std, generator=g).to(m.weight.dtype))
            if m.bias is not None:
                m.bias.zero_()
    return model


def rand_fit(model: nn.Module, train) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The rand skip-network: a float64 copy of `model` (U at init) with V the ridge solution for one-hot targets at
    ridge eps_float64 x trace(Phi Phi^T), by the dual solve (float32 features of deep sigmoid nets are
    numerically rank-deficient: their input-dependent part sits below float32 rounding). The n x n float64 Gram
    matrix and Phi take 2 n N x 8 bytes: 40 GB on the device at the paper's n = N = 50,000 (CG on the normal
    equations cannot stand in: cond(Phi)^2 ~ 1e25 at N = n). Returns (fitted net, Phi, its training logits)."""
    model = model.double()
    phi, base = skip_features_and_base(model, train.x.double().to(next(model.parameters()).device))
    fitted = fit_on_features(model, phi, base, train.y, len(train.y) * EPS64)
    return fitted, phi, base + phi @ fitted.skip.weight.T


def feature_diagnostics(phi: torch.Tensor) -> dict:
    """Spectrum of the skip features Phi (n inputs x N neurons): condition number, and of the input-dependent part
    C = Phi - mean over inputs: energy share ||C||_F^2 / ||Phi||_F^2 (signal left after depth) and participation
    ratio (sum s)^2 / sum s^2 of its singular values s (effective feature rank)."""
    phi = phi.double()
    s = torch.linalg.svdvals(phi)
    centred = phi - phi.mean(dim=0)
    sc = torch.linalg.svdvals(centred)
    return {"cond": float(s[0] / s[-1]), "sigma_min": float(s[-1]), "sigma_max": float(s[0]),
            "input_energy": float((centred ** 2).sum() / (phi ** 2).sum()),
            "participation": float(sc.sum() ** 2 / (sc ** 2).sum())}


def detectable_gap(diffs, needed: float) -> float:
    """Power of the rule "95% t lower bound of mean(diffs) > 0": the smallest gap, in steps of needed / 10 up to
    4 x needed, that the rule detects when planted on the measured spread (diffs centred, plus the gap); inf if none."""
    mean = sum(diffs) / len(diffs)
    centred = [d - mean for d in diffs]
    shifts = [needed * k / 10 for k in range(1, 41)]
    return smallest_detected_shift(lambda gap: t_interval([c + gap for c in centred])[0] > 0, shifts)


def summary(values) -> str:
    """'mean ± std%' of accuracies in [0, 1]."""
    mean, std = mean_std(values)
    return f"{100 * mean:.2f} ± {100 * std:.2f}%"


# ---- runs of a recipe: accuracies of trained nets and of rand fits ------------------------------------------

TIER_NETS = {"cpu": ("cnn13", "vgg11"), "gpu": ("cnn13", "vgg11"), "paper": ("cnn13",) + NETS_TABLE2}
_RAND_MEMO: dict = {}  # key (recipe, tier, run, device, N) -> rand run: a fit is a forward pass, shared by tests


def runs_at(cell_: Cell, tier: str, recipes_at_tier) -> bool:
    """Whether the tier runs this cell: its net is one of TIER_NETS[tier] and its recipe has a version there."""
    return cell_.net in TIER_NETS[tier] and cell_.recipe in recipes_at_tier


def trained_accuracies(trained_net, name: str, runs: int) -> dict:
    """{'train', 'test', 'seeds', 'epochs'} of runs 0..runs-1 of a trained recipe (last evaluated epoch);
    trained_net(name, run) -> (model, metrics) as fixtures.trained hands it out."""
    out = {"train": [], "test": [], "seeds": [], "epochs": []}
    for run in range(runs):
        _, metrics = trained_net(name, run)
        out["train"].append(metrics["final"]["train_acc"])
        out["test"].append(metrics["final"]["test_acc"])
        out["seeds"].append(metrics["seed"])
        out["epochs"].append(metrics["epochs_run"])
    return out


def rand_accuracies(key, build, data: dict, seeds, diagnose: bool = False) -> dict:
    """{'train', 'test', 'seeds'[, 'diagnostics']} of rand fits (rand_fit) of build(seed) for each seed; memoized
    under (key, seed). diagnose adds feature_diagnostics of the training features (an SVD of Phi, n x N: minutes
    at the paper's n = N = 50,000, so only on request)."""
    from losslab.train.trainer import evaluate  # the trainer's accuracy, on the float64 fitted net

    out = {"train": [], "test": [], "seeds": list(seeds)} | ({"diagnostics": []} if diagnose else {})
    for seed in seeds:
        memo = _RAND_MEMO.setdefault((key, seed), {})
        if "train" not in memo or (diagnose and "diagnostics" not in memo):
            fitted, phi, logits = rand_fit(build(seed), data["train"])
            memo["train"] = float((logits.argmax(1).cpu() == data["train"].y).double().mean())
            test = data["test"]
            memo["test"] = evaluate(fitted, type(test)(test.x.double(), test.y), device=phi.device)[1]
            if diagnose:
                memo["diagnostics"] = feature_diagnostics(phi)
        for k in ("train", "test") + (("diagnostics",) if diagnose else ()):
            out[k].append(memo[k])
    return out
