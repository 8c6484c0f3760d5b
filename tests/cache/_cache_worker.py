"""Subprocess body for the cache tests: ask the cache for one tiny network, count trainings in a file.

    _cache_worker.py ROOT MARKER OUT [hang]   (hang: leave a partial weights file, then train forever)
"""

import json
import sys
import time

import torch

from losslab.cache import TrainedNetCache, entry_key
from losslab.nets import fnn

RECIPE, TIER, SEED = {"name": "tiny"}, "cpu", 7


def main(root: str, marker: str, out: str, mode: str = "train") -> None:
    def make_model():
        torch.manual_seed(0)
        return fnn(2, width=8, in_features=3, out_features=2)

    def train_model(model):
        if mode == "hang":  # what a job killed while saving leaves: a partial tmp file, no metadata
            partial = f"{root}/{entry_key(RECIPE, TIER, SEED)}.safetensors.partial.tmp"
            with open(partial, "wb") as handle:
                handle.write(b"\0" * 64)
        with open(marker, "a") as handle:
            handle.write("trained\n")
        time.sleep(3600.0 if mode == "hang" else 1.0)  # hang: until killed; else hold the lock to contend
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return {"final": {"train_acc": 1.0}}

    model, meta = TrainedNetCache(root).get(RECIPE, TIER, SEED, make_model, train_model)
    with open(out, "w") as handle:
        json.dump({"sha": meta["weights_sha256"], "sum": float(sum(p.sum() for p in model.parameters()))}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:5])
