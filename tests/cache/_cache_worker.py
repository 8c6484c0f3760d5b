"""Subprocess body for the cache tests: ask the cache for one tiny network, count trainings in a file."""

import json
import sys
import time

import torch

from losslab.cache import TrainedNetCache
from losslab.nets import fnn


def main(root: str, marker: str, out: str) -> None:
    def make_model():
        torch.manual_seed(0)
        return fnn(2, width=8, in_features=3, out_features=2)

    def train_model(model):
        with open(marker, "a") as handle:
            handle.write("trained\n")
        time.sleep(1.0)  # hold the lock long enough for the other process to contend
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return {"final": {"train_acc": 1.0}}

    model, meta = TrainedNetCache(root).get({"name": "tiny"}, "cpu", 7, make_model, train_model)
    with open(out, "w") as handle:
        json.dump({"sha": meta["weights_sha256"], "sum": float(sum(p.sum() for p in model.parameters()))}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:4])
