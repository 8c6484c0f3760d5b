"""Data loaders against the shipped files (counts, label histograms, CIFAR statistics) and synthetic tasks."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest
import torch

from losslab.data import DataMissing, cubic_task, load_cifar10, load_mnist, load_svhn, teacher_task
from losslab.data.cifar10 import load_cifar10_raw
from losslab.data.fake import SYNTHETIC_MARKER
from losslab.data.mnist import FILES, read_idx
from losslab.data.synthetic import cubic

MNIST_TRAIN_HIST = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real_dir(data_dir):
    if data_dir is None:
        pytest.skip("real data tests need --data-dir or LOSSLAB_DATA_DIR (CI: /work/shared/data)")
    return data_dir


def test_mnist_test_split_counts_and_histogram(real_dir):
    test = load_mnist(real_dir, "test", normalize=False)
    assert test.x.shape == (10000, 1, 28, 28) and test.x.dtype == torch.float32
    assert torch.bincount(test.y, minlength=10).tolist() == MNIST_TEST_HIST
    assert 0.0 <= test.x.min() and test.x.max() <= 1.0


def test_mnist_train_labels_histogram(real_dir):
    folder = real_dir / "mnist"
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz")
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TRAIN_HIST


def test_mnist_limit_takes_first_images_normalised(real_dir):
    head = load_mnist(real_dir, "train", limit=512)
    assert head.x.shape == (512, 1, 28, 28)
    assert abs(float(head.x.mean())) < 0.1  # standardised with the MNIST mean/std


def test_mnist_torchvision_layout_is_found(real_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        if name.startswith("t10k"):
            shutil.copy(real_dir / "mnist" / name, raw / name)
        else:  # tiny stand-ins: the loader must find the folder, we read only the test split
            (raw / name).write_bytes(b"")
    assert len(load_mnist(tmp_path, "test")) == 10000


def test_truncated_idx_is_rejected(tmp_path):
    header = b"\x00\x00\x08\x01" + (10).to_bytes(4, "big")
    (tmp_path / "short.gz").write_bytes(gzip.compress(header + bytes(5)))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short.gz")


def test_missing_data_raises_datamissing_with_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSLAB_DATA_DIR", raising=False)
    with pytest.raises(DataMissing, match="LOSSLAB_DATA_DIR"):
        load_mnist(None)
    for loader in (load_mnist, load_cifar10, load_svhn):
        with pytest.raises(DataMissing, match="--data-dir"):
            loader(tmp_path)


def test_cifar10_npz_content_and_statistics(real_dir):
    images, labels = load_cifar10_raw(real_dir, "test")
    assert images.shape == (10000, 32, 32, 3) and images.dtype == np.uint8
    assert hashlib.sha256(images.tobytes()).hexdigest() == \
        "52a9dc125982c0440d5eed87474b2f521e96c45a98df08e4329aa42c692b9d9d"
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10
    data = load_cifar10(real_dir, normalize=False)
    mean = data.x.mean(dim=(0, 2, 3), dtype=torch.float64)
    std = data.x.to(torch.float64).std(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(mean, torch.tensor([0.49421428, 0.48513139, 0.45040909], dtype=torch.float64), atol=1e-6)
    assert torch.allclose(std, torch.tensor([0.24665252, 0.24289226, 0.26159238], dtype=torch.float64), atol=1e-6)
    # normalised with the training set's statistics: the test set's own mean maps to (mean_test - MEAN) / STD
    from losslab.data.cifar10 import MEAN, STD
    norm = load_cifar10(real_dir, limit=None)
    expected = (mean - torch.tensor(MEAN, dtype=torch.float64)) / torch.tensor(STD, dtype=torch.float64)
    assert torch.allclose(norm.x.mean(dim=(0, 2, 3), dtype=torch.float64), expected, atol=1e-4)


def test_cifar10_shuffle_is_seeded_and_mixes_classes(real_dir):
    a = load_cifar10(real_dir, shuffle_seed=0, limit=1000, normalize=False)
    b = load_cifar10(real_dir, shuffle_seed=0, limit=1000, normalize=False)
    c = load_cifar10(real_dir, shuffle_seed=1, limit=1000, normalize=False)
    assert torch.equal(a.y, b.y) and not torch.equal(a.y, c.y)
    assert torch.bincount(a.y, minlength=10).min() > 50  # class-sorted file would give one class


def test_cubic_task_follows_the_polynomial():
    data = cubic_task(seed=3, n=5, noise_std=0.0)
    assert data.x.shape == (5, 1) and data.x.dtype == torch.float64
    assert torch.equal(data.y, data.x**3 - 3 * data.x**2 - data.x + 1)
    assert cubic(torch.tensor(0.0)) == 1 and cubic(torch.tensor(1.0)) == -2
    noisy = cubic_task(seed=3, n=5)
    assert torch.equal(noisy.x, data.x) and 0 < (noisy.y - data.y).abs().max() < 1.0
    assert torch.equal(cubic_task(seed=3).y, noisy.y)


def test_teacher_task_is_deterministic_and_balancedish():
    a, b = teacher_task(1, 200, classes=3), teacher_task(1, 200, classes=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert a.y.unique().numel() >= 2


def test_svhn_mat_layout_and_label_ten_is_zero(tmp_path):
    import scipy.io
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(32, 32, 3, 4), dtype=np.uint8)
    (tmp_path / SYNTHETIC_MARKER).touch()  # random files: their hashes are not the known ones
    (tmp_path / "svhn").mkdir()
    scipy.io.savemat(tmp_path / "svhn" / "test_32x32.mat", {"X": images, "y": np.array([[10], [1], [9], [10]])})
    data = load_svhn(tmp_path, "test", normalize=False)
    assert data.y.tolist() == [0, 1, 9, 0]
    assert data.x.shape == (4, 3, 32, 32)
    assert torch.allclose(data.x[2, 1], torch.from_numpy(images[:, :, 1, 2] / 255.0).float())


def test_cifar_python_batches_read_and_unsafe_pickles_refused(tmp_path):
    import pickle
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (tmp_path / SYNTHETIC_MARKER).touch()  # random files: their hashes are not the known ones
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": rows, b"labels": [3, 1, 4]}, handle, protocol=2)
    images, labels = load_cifar10_raw(tmp_path, "test")
    assert labels.tolist() == [3, 1, 4]
    assert np.array_equal(images[1, :, :, 2], rows[1, 2048:].reshape(32, 32))  # CHW rows -> HWC

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": Evil(), b"labels": []}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_cifar10_raw(tmp_path, "test")
