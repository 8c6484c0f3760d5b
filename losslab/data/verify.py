"""Dataset files checked against their known hashes before they are decoded: a cut or altered file fails
with the file, the expected and the found hash, and the fix (not a bare EOFError from gzip)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from losslab.data.fake import SYNTHETIC_MARKER

# file name: (algorithm, hex digest). MNIST: shared/data/mnist/SHA256SUMS; CIFAR-10 and SVHN: the MD5s
# torchvision checks (datasets/cifar.py, datasets/svhn.py); the class-sorted test npz: shared/data.
KNOWN_HASHES = {
    "train-images-idx3-ubyte.gz": ("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    "cifar10_test_10k_classsorted.npz": ("sha256",
                                         "06f05d444ba8d12196d14f2b0dc32f46797d07e56177ea2d8c1a0fc1b9bcd337"),
    "cifar-10-python.tar.gz": ("md5", "c58f30108f718f92721af3b95e74349a"),
    "data_batch_1": ("md5", "c99cafc152244af753f735de768cd75f"),
    "data_batch_2": ("md5", "d4bba439e000b95fd0a9bffe97cbabec"),
    "data_batch_3": ("md5", "54ebc095f3ab1f0389bbae665268c751"),
    "data_batch_4": ("md5", "634d18415352ddfa80567beed471001a"),
    "data_batch_5": ("md5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    "test_batch": ("md5", "40351d587109b95175f43aff81a1287e"),
    "train_32x32.mat": ("md5", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test_32x32.mat": ("md5", "eb5a983be6a315427106f1b164d9cef3"),
}
_verified: set[tuple] = set()  # (path, size, mtime): each file is hashed once per process


class DataCorrupt(ValueError):
    """A dataset file whose hash is not the known one (truncated download, altered copy): an error, not a skip."""


def file_digest(path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_synthetic(path) -> bool:
    """True inside a folder of fake files (losslab.data.fake: the SYNTHETIC marker in it or up to 2 above)."""
    return any((folder / SYNTHETIC_MARKER).is_file() for folder in list(Path(path).resolve().parents)[:3])


def verify_file(path, data_dir) -> Path:
    """`path` when its hash is the known one (or it has none, or it is synthetic); DataCorrupt otherwise,
    naming the fix: fetch it again into `data_dir`."""
    path = Path(path)
    known = KNOWN_HASHES.get(path.name)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if known is None or memo in _verified or is_synthetic(path):
        return path
    algorithm, expected = known
    found = file_digest(path, algorithm)
    if found != expected:
        raise DataCorrupt(f"{path}: {algorithm} {found} ({stat.st_size} bytes), expected {expected}: the file is "
                          f"truncated or altered. Fix: delete it and run `python -m losslab data fetch {data_dir}`")
    _verified.add(memo)
    return path
