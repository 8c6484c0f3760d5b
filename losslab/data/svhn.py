"""SVHN cropped digits from the official .mat files (`<dir>/svhn/{train,test}_32x32.mat`)."""

from __future__ import annotations

import numpy as np
import torch

from losslab.data.core import FIX_HINT, DataMissing, Split, find_data_dir
from losslab.data.verify import verify_file

MEAN = (0.4377, 0.4438, 0.4728)
STD = (0.1980, 0.2010, 0.1970)


def load_svhn(data_dir=None, split: str = "train", normalize: bool = True, limit: int | None = None) -> Split:
    """SVHN split 'train' or 'test' as N x 3 x 32 x 32 float32; label 10 (digit 0) mapped to 0."""
    import scipy.io

    root = find_data_dir(data_dir)
    path = next((p for p in (root / "svhn" / f"{split}_32x32.mat", root / "SVHN" / f"{split}_32x32.mat",
                             root / f"{split}_32x32.mat") if p.is_file()), None)
    if path is None:
        raise DataMissing(f"SVHN {split} not found under {root}/svhn/: get "
                          f"http://ufldl.stanford.edu/housenumbers/{split}_32x32.mat into {root}/svhn/ and "
                          f"{FIX_HINT}")
    mat = scipy.io.loadmat(verify_file(path, root))
    images = np.transpose(mat["X"], (3, 2, 0, 1))  # (32, 32, 3, N) -> (N, 3, 32, 32)
    labels = mat["y"].reshape(-1).astype(np.int64) % 10
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    if normalize:
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return Split(x, torch.from_numpy(labels))
