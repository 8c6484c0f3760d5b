"""CIFAR-10: the shipped class-sorted test npz, or the standard python batches (cifar-10-batches-py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from losslab.data.core import FIX_HINT, DataMissing, Split, find_data_dir
from losslab.data.verify import verify_file

NPZ = Path("cifar10") / "cifar10_test_10k_classsorted.npz"
# Training-set statistics (the 50,000 training images; the usual published values): normalizing with the
# test set's would let test data shape the inputs (WZE17 Sec. 3.2 "channel-wise normalization").
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def _to_split(images_hwc: np.ndarray, labels: np.ndarray, normalize: bool) -> Split:
    x = torch.from_numpy(images_hwc.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    if normalize:
        x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


def load_cifar10_raw(data_dir=None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 32, 32, 3) and labels of a split, in file order (the npz is class-sorted)."""
    root = find_data_dir(data_dir)
    batches = next((p for p in (root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py")
                    if p.is_dir()), None)
    if batches is not None:
        names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
        xs, ys = [], []
        for name in names:
            xs_, ys_ = _read_python_batch(verify_file(batches / name, root))
            xs.append(xs_)
            ys.append(ys_)
        return np.concatenate(xs), np.concatenate(ys)
    if split == "test" and (root / NPZ).is_file():
        with np.load(verify_file(root / NPZ, root), allow_pickle=False) as z:
            return z["x_test"], z["y_test"]
    raise DataMissing(f"CIFAR-10 {split} split not found under {root} (looked for {NPZ} and "
                      f"cifar-10-batches-py/): get https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, "
                      f"extract it there, and {FIX_HINT}")


def _read_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python batch with a restricted unpickler (only builtins, numpy arrays)."""
    import pickle

    class _Restricted(pickle.Unpickler):
        ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                   ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

        def find_class(self, module, name):
            if (module, name) not in self.ALLOWED:
                raise pickle.UnpicklingError(f"{path}: refusing to load {module}.{name}")
            return super().find_class(module, name)

    with open(path, "rb") as handle:
        batch = _Restricted(handle, encoding="bytes").load()
    images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[b"labels"], dtype=np.uint8)


def load_cifar10(data_dir=None, split: str = "test", normalize: bool = True, shuffle_seed: int | None = 0,
                 limit: int | None = None) -> Split:
    """CIFAR-10 split as N x 3 x 32 x 32 float32; shuffled with `shuffle_seed` (numpy PCG64) before
    `limit` is applied, since the shipped test npz is sorted by class (None keeps file order)."""
    images, labels = load_cifar10_raw(data_dir, split)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(labels))
        images, labels = images[order], labels[order]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return _to_split(images, labels, normalize)
