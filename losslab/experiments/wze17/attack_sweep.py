"""WZE17 Sec. 5.1 attack sweep: mLeNet fits the first 512 MNIST images while an attack set with wrong labels
pushes it away from generalizing (Eq. 12); which optimizer / attack size / λ schedule reaches >= 99% train
accuracy at which test accuracy.

Each setting trains one net through a λ continuation (λ raised stage by stage, the paper's "larger λ with
warm-up"; every stage is one losslab.train.train call, lr / 10 for its last quarter) and records the
train / test / attack accuracy at the end of every stage. Run: python -m losslab.experiments.wze17.attack_sweep
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from losslab.data import load_mnist, subset
from losslab.nets import build_net
from losslab.seeds import claim_seed
from losslab.train import TrainConfig, train, wrong_labels

N_TRAIN = 512  # paper Sec. 5.3: the first 512 MNIST training images
REST_OF_TRAIN = 60000 - N_TRAIN  # the paper's largest attack set


@dataclass(frozen=True)
class AttackSetting:
    """One sweep point: optimizer, attack size and batch, λ per stage, epochs per stage (stage 0: λ = 0)."""

    optimizer: str
    lr: float
    attack_size: int
    lambdas: tuple[float, ...]
    stage_epochs: int
    warmup_epochs: int = 20
    batch_size: int = 128
    attack_batch_size: int = 128
    momentum: float = 0.0

    @property
    def name(self) -> str:
        return (f"{self.optimizer}-lr{self.lr:g}-attack{self.attack_size}-ab{self.attack_batch_size}"
                f"-stage{self.stage_epochs}")


def he_normal_(model: nn.Module) -> None:
    """N(0, 2/fan_in) weights, zero biases (WZE17 Sec. 5.3's init)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def attack_data(attack_size: int, n_test: int, data_dir=None, label_seed: int = 0) -> dict:
    """Train (first 512 images), attack (the next `attack_size`, labels made wrong) and test splits."""
    pool = load_mnist(data_dir, "train", limit=N_TRAIN + attack_size)
    raw = subset(pool, N_TRAIN, N_TRAIN + attack_size)
    attack = type(raw)(raw.x, wrong_labels(raw.y, 10, label_seed))
    return {"train": subset(pool, 0, N_TRAIN), "attack": attack, "test": load_mnist(data_dir, "test", limit=n_test)}


def run_setting(setting: AttackSetting, seed: int, n_test: int = 2000, data_dir=None) -> list[dict]:
    """One row per stage end: λ, epochs so far, train/test/attack accuracy and loss, seconds."""
    data = attack_data(setting.attack_size, n_test, data_dir)
    torch.manual_seed(seed)
    model = build_net("mlenet")
    he_normal_(model)
    base = TrainConfig(optimizer=setting.optimizer, lr=setting.lr, momentum=setting.momentum,
                       batch_size=setting.batch_size, attack_batch_size=setting.attack_batch_size,
                       milestones=(0.75,))
    rows, epochs, started = [], 0, time.monotonic()
    for stage, lam in enumerate((0.0,) + setting.lambdas):
        stage_epochs = setting.warmup_epochs if stage == 0 else setting.stage_epochs
        config = replace(base, epochs=stage_epochs, eval_every=stage_epochs, attack_weight=lam)
        result = train(model, data["train"], config, seed + stage, test_set=data["test"],
                       attack_set=data["attack"] if lam > 0 else None, label=setting.name)
        epochs += stage_epochs
        final = result.final
        rows.append({"setting": setting.name, **setting.__dict__, "seed": seed, "lambda": lam, "epochs": epochs,
                     "stopped": result.stopped, "seconds": round(time.monotonic() - started, 1),
                     **{k: final.get(k) for k in ("train_acc", "train_loss", "test_acc", "attack_acc")}})
        if result.stopped == "diverged":
            break
    return rows


LAMBDAS = (0.1, 0.3, 1.0, 3.0)
# the CPU sweep (run once at nice 19 on a 2-core machine shared by 8 sessions: 5,020 wall seconds summed over
# the settings, a few CPU minutes each): both of the paper's optimizer families, attack sets up to the rest of
# the training set, a λ continuation, and a longer schedule reaching λ = 10
CPU_SWEEP = (
    AttackSetting("adam", 1e-3, REST_OF_TRAIN, LAMBDAS, 50, attack_batch_size=512),
    AttackSetting("adam", 1e-3, REST_OF_TRAIN, (0.3, 1.0, 3.0, 10.0), 100, attack_batch_size=512),
    AttackSetting("sgd", 0.01, REST_OF_TRAIN, LAMBDAS, 50, momentum=0.9, attack_batch_size=512),
    AttackSetting("adam", 1e-3, 2048, (0.3, 1.0, 3.0, 10.0), 50, attack_batch_size=512),
)


CPU_SWEEP_LOG = Path(__file__).with_name("attack_sweep_cpu.jsonl")  # the one-off run of main() on CPU


def recorded_sweep(path: Path = CPU_SWEEP_LOG) -> list[dict]:
    """The stage-end rows of a sweep log (JSON lines)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sweep_summary(rows: list[dict], min_train_acc: float) -> dict:
    """Attacked stage ends with train accuracy >= min_train_acc: how many, the lowest test accuracy among
    them and where, and the wall seconds spent (the log's per-setting elapsed time, summed)."""
    fitted = [r for r in rows if r["lambda"] > 0 and r["train_acc"] >= min_train_acc]
    worst = min(fitted, key=lambda r: r["test_acc"], default=None)
    settings = {r["setting"]: r["seconds"] for r in rows}
    return {"stage ends": len(rows), "fitted attacked stage ends": len(fitted),
            "worst fitted": None if worst is None else {k: worst[k] for k in
                                                         ("setting", "lambda", "epochs", "train_acc", "test_acc")},
            "settings": sorted(settings), "wall seconds": round(sum(settings.values()))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, help="JSON lines, one per stage end")
    parser.add_argument("--first", type=int, default=0, help="start at this setting (resume a log)")
    parser.add_argument("--count", type=int, default=len(CPU_SWEEP), help="run at most this many settings")
    parser.add_argument("--seed", type=int, default=claim_seed("WZE17-ATK", 0))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with open(args.log, "a") as log:
        for setting in CPU_SWEEP[args.first:args.first + args.count]:
            for row in run_setting(setting, args.seed):
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(row, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
