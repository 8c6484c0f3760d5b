"""The training loop.

Objective (WZE17 Eq. 12): R_train(theta) + lambda * R_attack(theta), R_attack the mean loss on an attack
set carrying wrong labels; lambda = 0 (no attack set) is plain empirical risk minimisation.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from losslab.data.augment import augment
from losslab.data.core import Split

TRAINER_VERSION = "1"  # bump when a change alters what train() produces for the same recipe


@dataclass(frozen=True)
class TrainConfig:
    """What to run. batch_size None = full-batch gradient descent."""

    epochs: int = 10
    optimizer: str = "sgd"  # "sgd" (with momentum / nesterov) or "adam"
    lr: float = 0.01
    batch_size: int | None = 128
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    milestones: tuple[float, ...] = ()  # fractions of `epochs` at which lr is divided by 10
    loss: str = "cross_entropy"  # or "mse" (regression)
    attack_weight: float = 0.0  # lambda of WZE17 Eq. (12)
    attack_batch_size: int | None = None  # None: same as batch_size
    attack_warmup_epochs: int = 0  # epochs on R_train alone before the attack term switches on
    stop_at_full_train_accuracy: bool = False
    eval_batch_size: int = 1024
    eval_every: int = 1  # epochs between metric rows (the last epoch always gets one)
    augment: str | None = None  # losslab.data.augment kind applied to every training batch ("crop-flip": C-10+)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    stopped: str = "epochs"  # "epochs" | "train accuracy 100%" | "diverged"
    run: dict = field(default_factory=dict)  # run_flags(): device, precision, layout, determinism switches

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def wrong_labels(labels: torch.Tensor, classes: int, seed: int) -> torch.Tensor:
    """Labels shifted by a uniform random offset in 1..classes-1 mod classes: always wrong (WZE17 §5.1)."""
    g = torch.Generator().manual_seed(seed)
    offset = torch.randint(1, classes, labels.shape, generator=g)
    return (labels.cpu() + offset) % classes


def _loss(kind: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "cross_entropy":
        return F.cross_entropy(output, target)
    if kind == "mse":
        return F.mse_loss(output, target)
    raise ValueError(f"unknown loss {kind!r}")


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, loss: str = "cross_entropy", batch_size: int = 1024,
             device="cpu") -> tuple[float, float | None]:
    """(mean loss, accuracy or None for regression) of the model in eval mode; one host sync at the end."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(data), batch_size):
        x = data.x[start:start + batch_size].to(device)
        y = data.y[start:start + batch_size].to(device)
        out = model(x)
        total_loss += _loss(loss, out, y).double() * len(y)
        if loss == "cross_entropy":
            correct += (out.argmax(dim=1) == y).sum()
    model.train(was_training)
    n = max(len(data), 1)
    return float(total_loss) / n, (int(correct) / n if loss == "cross_entropy" else None)


def _batches(n: int, batch_size: int | None, generator: torch.Generator, device="cpu"):
    """Index tensors of one epoch on `device` (drawn on the CPU generator: same order on every device)."""
    if batch_size is None or batch_size >= n:
        yield None  # full batch
        return
    order = torch.randperm(n, generator=generator).to(device)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def _take(data: Split, index) -> tuple[torch.Tensor, torch.Tensor]:
    return (data.x, data.y) if index is None else (data.x[index], data.y[index])


def _resident(data: Split | None, device, channels_last: bool) -> Split | None:
    """The split moved to `device` once (no host-to-device copy per step), NHWC-strided for channels_last."""
    if data is None:
        return None
    x = data.x.to(device)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return Split(x, data.y.to(device))


def run_flags(device, autocast: str | None, channels_last: bool) -> dict:
    """What besides the recipe decides the numbers: device, precision, layout and the determinism switches."""
    return {"device": str(device), "autocast": autocast, "channels_last": channels_last,
            "torch": torch.__version__, "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32}


def train(model: nn.Module, train_set: Split, config: TrainConfig, seed: int, test_set: Split | None = None,
          attack_set: Split | None = None, device="cpu", progress_every_s: float = 5.0,
          label: str = "train", autocast: str | None = None, channels_last: bool = False,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train in place; returns per-epoch metrics. attack_set labels must already be wrong (wrong_labels).

    Deterministic given `seed` on CPU: shuffling uses its own torch.Generator; dropout-free models
    draw nothing else. The splits live on `device` for the whole run and the objective is summed there
    (one host sync per epoch). autocast "bf16": forward and loss under torch.autocast(bfloat16);
    channels_last: model and images in NHWC layout. on_epoch(row) is called with every metric row;
    a progress line goes to stderr at most every progress_every_s seconds."""
    if autocast not in (None, "bf16"):
        raise ValueError(f"unknown autocast {autocast!r}; known: None, 'bf16'")
    device = torch.device(device)
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    train_set, test_set, attack_set = (_resident(s, device, channels_last) for s in (train_set, test_set, attack_set))
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    attack_shuffle = torch.Generator().manual_seed(seed + 1)
    augment_draws = torch.Generator().manual_seed(seed + 2)
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    nesterov=config.nesterov, weight_decay=config.weight_decay)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}")
    milestones = sorted({max(1, round(f * config.epochs)) for f in config.milestones})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1)
    use_attack = attack_set is not None and config.attack_weight > 0
    attack_bs = config.attack_batch_size or config.batch_size
    result = TrainResult(run=run_flags(device, autocast, channels_last))
    mixed = torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast == "bf16")
    started = last_print = time.monotonic()
    for epoch in range(1, config.epochs + 1):
        attacking = use_attack and epoch > config.attack_warmup_epochs
        attack_iter = iter(_batches(len(attack_set), attack_bs, attack_shuffle, device)) if attacking else None
        objective_sum = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no sync per step
        seen = 0
        for index in _batches(len(train_set), config.batch_size, shuffle, device):
            x, y = _take(train_set, index)
            if config.augment:
                x = augment(x, config.augment, augment_draws)
            with mixed:
                objective = _loss(config.loss, model(x), y)
            if attacking:
                attack_index = next(attack_iter, "exhausted")
                if attack_index == "exhausted":  # attack set smaller than the train set: cycle it
                    attack_iter = iter(_batches(len(attack_set), attack_bs, attack_shuffle, device))
                    attack_index = next(attack_iter)
                ax, ay = _take(attack_set, attack_index)
                with mixed:
                    objective = objective + config.attack_weight * _loss(config.loss, model(ax), ay)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            objective_sum += objective.detach().double() * len(y)
            seen += len(y)
        row = {"epoch": epoch, "objective": float(objective_sum) / seen, "lr": optimizer.param_groups[0]["lr"]}
        scheduler.step()
        if not math.isfinite(row["objective"]):
            result.history.append(row)
            result.stopped = "diverged"
            break
        if epoch % config.eval_every and epoch != config.epochs:
            continue
        row["train_loss"], row["train_acc"] = evaluate(model, train_set, config.loss, config.eval_batch_size, device)
        if test_set is not None:
            row["test_loss"], row["test_acc"] = evaluate(model, test_set, config.loss, config.eval_batch_size, device)
        if use_attack:
            row["attack_loss"], row["attack_acc"] = evaluate(model, attack_set, config.loss,
                                                             config.eval_batch_size, device)
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(dict(row, epochs=config.epochs, seconds=time.monotonic() - started))
        now = time.monotonic()
        if now - last_print >= progress_every_s:
            last_print = now
            print(f"[{label}] epoch {epoch}/{config.epochs} objective {row['objective']:.4g} "
                  f"train acc {row['train_acc']} test acc {row.get('test_acc')} ({now - started:.0f} s)",
                  file=sys.stderr, flush=True)
        if config.stop_at_full_train_accuracy and row["train_acc"] == 1.0 and (attacking or not use_attack):
            result.stopped = "train accuracy 100%"
            break
    if channels_last:
        model.to(memory_format=torch.contiguous_format)  # the cache and the probes expect the default layout
    return result
