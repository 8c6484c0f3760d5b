"""Common pieces of the data loaders: the Split container, DataMissing, the data-directory lookup."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

FIX_HINT = ("get it with `python -m losslab data fetch DIR` (MNIST, CIFAR-10, SVHN; hashes checked) and point "
            "the suite at DIR: `pytest --data-dir DIR` or `export LOSSLAB_DATA_DIR=DIR` "
            "(CI: LOSSLAB_DATA_DIR=/work/shared/data)")


class DataMissing(FileNotFoundError):
    """A dataset is not on disk; the message says where to get it and how to point the suite at it."""


@dataclass
class Split:
    """Inputs x (float32, N x ...) and integer labels y (int64, N) of one split."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device))


def find_data_dir(data_dir=None) -> Path:
    """The data folder: the argument, else LOSSLAB_DATA_DIR; DataMissing when neither is set."""
    value = data_dir if data_dir is not None else os.environ.get("LOSSLAB_DATA_DIR")
    if not value:
        raise DataMissing(f"no data directory given: {FIX_HINT}")
    return Path(value).expanduser()
