"""Dataset files are checked against known hashes before decoding (losslab/data/verify.py)."""

import shutil

import pytest

from losslab.data import load_mnist
from losslab.data.fake import write_fake_data_dir
from losslab.data.verify import KNOWN_HASHES, DataCorrupt, file_digest

SHARED = "/work/shared/data"


@pytest.fixture
def mnist_copy(tmp_path, data_dir):
    if data_dir is None or not (data_dir / "mnist").is_dir():
        pytest.skip("needs the MNIST files (--data-dir)")
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).symlink_to(data_dir / "mnist" / name)
    shutil.copy(data_dir / "mnist" / "train-labels-idx1-ubyte.gz", folder)
    return tmp_path


def test_the_real_files_have_the_known_hashes(data_dir):
    if data_dir is None or not (data_dir / "mnist").is_dir():
        pytest.skip("needs the MNIST files (--data-dir)")
    for path in (data_dir / "mnist").glob("*.gz"):
        algorithm, expected = KNOWN_HASHES[path.name]
        assert file_digest(path, algorithm) == expected, path


def test_a_cut_file_fails_with_file_hashes_and_fix(mnist_copy):
    labels = mnist_copy / "mnist" / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-100])  # a truncated download
    with pytest.raises(DataCorrupt) as info:
        load_mnist(mnist_copy, "train", limit=8)
    message = str(info.value)
    assert str(labels) in message and KNOWN_HASHES[labels.name][1] in message
    assert file_digest(labels, "sha256") in message and f"python -m losslab data fetch {mnist_copy}" in message


def test_synthetic_files_are_not_checked(tmp_path):
    write_fake_data_dir(tmp_path, n=4)
    assert len(load_mnist(tmp_path, "train")) == 4
