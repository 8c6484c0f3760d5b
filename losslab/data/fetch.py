"""`python -m losslab data fetch DIR`: MNIST, CIFAR-10 (both splits) and SVHN into DIR in the layout the
loaders read, resumable (HTTP Range on a kept .part file), every file checked against its known hash."""

from __future__ import annotations

import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from losslab.data.verify import KNOWN_HASHES, DataCorrupt, file_digest

MIRRORS = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
           "cifar10": "https://www.cs.toronto.edu/~kriz/",
           "svhn": "http://ufldl.stanford.edu/housenumbers/"}
FILES = {"mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                   "t10k-labels-idx1-ubyte.gz"],
         "cifar10": ["cifar-10-python.tar.gz"],
         "svhn": ["train_32x32.mat", "test_32x32.mat"]}
FOLDERS = {"mnist": "mnist", "cifar10": ".", "svhn": "svhn"}  # the tar holds cifar-10-batches-py/
CIFAR_MEMBERS = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _matches(path: Path, known: dict) -> bool:
    algorithm, expected = known[path.name]
    return path.is_file() and file_digest(path, algorithm) == expected


def download(url: str, target: Path, known: dict, timeout_s: float = 60) -> Path:
    """`target` from `url`, resuming a kept `<target>.part` with an HTTP Range request; DataCorrupt when the
    finished file's hash is not known[target.name] (the .part is deleted so the next run starts over)."""
    if _matches(target, known):
        return target
    part = target.with_name(target.name + ".part")
    done = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            mode = "ab" if done and response.status == 206 else "wb"  # 200: the server ignored the range
            with open(part, mode) as handle:
                for block in iter(lambda: response.read(1 << 20), b""):
                    handle.write(block)
    except urllib.error.HTTPError as exc:
        if exc.code != 416:  # 416: nothing left to send, the .part is complete
            raise OSError(f"{url}: HTTP {exc.code} {exc.reason}; run the command again to resume") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise OSError(f"{url}: {exc}; {part} keeps what arrived: run the command again to resume") from exc
    algorithm, expected = known[target.name]
    found = file_digest(part, algorithm)
    if found != expected:
        part.unlink()
        raise DataCorrupt(f"{url}: downloaded {target.name} has {algorithm} {found}, expected {expected}; "
                          f"deleted it: run the command again (or check the mirror)")
    part.replace(target)
    return target


def fetch(data_dir, datasets=tuple(FILES), mirrors: dict = MIRRORS, known: dict = KNOWN_HASHES) -> list[Path]:
    """Every file of `datasets` into data_dir (present files with their known hash are kept); the CIFAR-10
    tar is extracted to cifar-10-batches-py/ and each batch checked. Returns the files in place."""
    root = Path(data_dir)
    placed = []
    for name in datasets:
        folder = root / FOLDERS[name]
        folder.mkdir(parents=True, exist_ok=True)
        for file_name in FILES[name]:
            target = download(mirrors[name] + file_name, folder / file_name, known)
            if name != "cifar10":
                placed.append(target)
                continue
            batches = root / "cifar-10-batches-py"
            if not all(_matches(batches / m, known) for m in CIFAR_MEMBERS):
                with tarfile.open(target) as tar:
                    members = [tar.getmember(f"cifar-10-batches-py/{m}") for m in CIFAR_MEMBERS]
                    tar.extractall(root, members=members, filter="data")
            for member in CIFAR_MEMBERS:
                if not _matches(batches / member, known):
                    raise DataCorrupt(f"{batches / member}: not the known {known[member][0]} "
                                      f"{known[member][1]} after extracting {target}: delete both and run again")
                placed.append(batches / member)
    return placed
