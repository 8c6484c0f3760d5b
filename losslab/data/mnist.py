"""MNIST from the original IDX gz files: `<dir>/mnist/*.gz` or torchvision's `<dir>/MNIST/raw/*.gz`."""

from __future__ import annotations

import gzip
import hashlib
import urllib.request
from pathlib import Path

import numpy as np
import torch

from losslab.data.core import FIX_HINT, DataMissing, Split, find_data_dir
from losslab.data.verify import verify_file

FILES = {  # name: gz md5 (the constants torchvision checks)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MEAN, STD = 0.1307, 0.3081  # the customary MNIST normalisation


def read_idx(path: Path) -> np.ndarray:
    """Decode one gzipped IDX file (magic 0x0803 images or 0x0801 labels) into a uint8 array."""
    raw = gzip.decompress(Path(path).read_bytes())
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {data.size} bytes (truncated?)")
    return data.reshape(shape)


def mnist_folder(data_dir=None) -> Path:
    """The folder holding the four MNIST gz files; DataMissing with the fix when absent."""
    root = find_data_dir(data_dir)
    for folder in (root / "mnist", root / "MNIST" / "raw", root):
        if all((folder / name).is_file() for name in FILES):
            return folder
    raise DataMissing(f"MNIST not found under {root} (looked in mnist/, MNIST/raw/): copy the four "
                      f"files {sorted(FILES)} from http://yann.lecun.com/exdb/mnist/ (or run "
                      f"`python -c \"from losslab.data import download_mnist; download_mnist('{root}/mnist')\"`) "
                      f"and {FIX_HINT}")


def load_mnist(data_dir=None, split: str = "train", limit: int | None = None,
               normalize: bool = True) -> Split:
    """MNIST split 'train' (60,000) or 'test' (10,000), x as N x 1 x 28 x 28 float32 in [0,1]
    (standardised with mean 0.1307, std 0.3081 when normalize), optionally the first `limit` images."""
    prefix = {"train": "train", "test": "t10k"}[split]
    folder = mnist_folder(data_dir)
    root = find_data_dir(data_dir)
    images = read_idx(verify_file(folder / f"{prefix}-images-idx3-ubyte.gz", root))
    labels = read_idx(verify_file(folder / f"{prefix}-labels-idx1-ubyte.gz", root))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    if normalize:
        x = (x - MEAN) / STD
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


def download_mnist(folder, mirror: str = MIRROR) -> Path:
    """Download the four MNIST gz files into `folder` and check their MD5s. Never called by tests."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in FILES.items():
        target = folder / name
        if not target.is_file():
            with urllib.request.urlopen(mirror + name, timeout=60) as response:
                payload = response.read()
            target.with_suffix(".part").write_bytes(payload)
            target.with_suffix(".part").replace(target)
        if hashlib.md5(target.read_bytes()).hexdigest() != md5:
            raise ValueError(f"{target}: MD5 mismatch (expected {md5})")
    return folder
