"""Small random dataset files in the real on-disk formats (MNIST IDX gz, CIFAR-10 python batches, SVHN
.mat), for the smoke scale and the fetch tests: the loaders read them exactly as the real files."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

SYNTHETIC_MARKER = "SYNTHETIC"  # a data folder holding this file has random images: known hashes do not apply


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file (magic 0x08, big-endian dims) holding `array`, gzipped."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def cifar_batch_bytes(images_hwc: np.ndarray, labels: np.ndarray) -> bytes:
    """One CIFAR-10 python batch (pickled dict: b'data' N x 3072 uint8 channel-major, b'labels' list)."""
    data = images_hwc.transpose(0, 3, 1, 2).reshape(len(labels), -1).astype(np.uint8)
    return pickle.dumps({b"batch_label": b"synthetic", b"labels": [int(v) for v in labels], b"data": data},
                        protocol=2)


def write_fake_data_dir(root, n: int = 128, seed: int = 0) -> Path:
    """mnist/ (4 gz), cifar-10-batches-py/ (data_batch_1..5, test_batch) and svhn/ ({train,test}_32x32.mat)
    with `n` random images per file, plus the SYNTHETIC marker; returns root."""
    import scipy.io

    root = Path(root)
    rng = np.random.default_rng(seed)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        (root / "mnist" / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            idx_bytes(rng.integers(0, 256, (n, 28, 28))))
        (root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_bytes(rng.integers(0, 10, n)))
    batches = root / "cifar-10-batches-py"
    batches.mkdir(exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (batches / name).write_bytes(cifar_batch_bytes(rng.integers(0, 256, (n, 32, 32, 3)), rng.integers(0, 10, n)))
    (root / "svhn").mkdir(exist_ok=True)
    for split in ("train", "test"):  # SVHN stores X as 32 x 32 x 3 x N and digit 0 as label 10
        scipy.io.savemat(root / "svhn" / f"{split}_32x32.mat",
                         {"X": rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8),
                          "y": rng.integers(1, 11, (n, 1)).astype(np.uint8)})
    (root / SYNTHETIC_MARKER).write_text("random images in the real formats (losslab.data.fake); not MNIST, "
                                         "CIFAR-10 or SVHN\n")
    return root
