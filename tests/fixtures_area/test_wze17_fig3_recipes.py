"""WZE17-FIG3 SVHN and ResNet-32 panel recipes (gpu/paper tiers only) and recipe_data's SVHN path."""

from dataclasses import replace

import numpy as np
import pytest
import scipy.io
import torch

from fixtures.recipes import (WZE17_RESNET_ATTACK_SWEEP, WZE17_SVHN_ATTACK_SWEEP, recipe_data, recipe_for,
                              wze17_resnet_attack_recipe_name, wze17_svhn_attack_recipe_name)
from losslab.data import DataMissing
from losslab.data.fake import SYNTHETIC_MARKER

SVHN_TRAIN, CIFAR10_TRAIN = 73257, 50000


@pytest.mark.parametrize("names, sweep, data, net, n_train, pool", [
    (wze17_svhn_attack_recipe_name, WZE17_SVHN_ATTACK_SWEEP, "svhn", "mlenet", 512, SVHN_TRAIN),
    (wze17_resnet_attack_recipe_name, WZE17_RESNET_ATTACK_SWEEP, "cifar10", "resnet32", 10000, CIFAR10_TRAIN)])
def test_fig3_panel_recipes_exist_at_gpu_and_paper_only(names, sweep, data, net, n_train, pool):
    assert set(sweep) == {"gpu", "paper"}
    for tier in ("gpu", "paper"):
        for size, lam in ((0, 0.0),) + sweep[tier]:
            recipe = recipe_for(names(size, lam), tier)
            assert recipe is not None and recipe.name == names(size, lam)
            assert (recipe.data, recipe.net, recipe.n_train, recipe.n_attack) == (data, net, n_train, size)
            assert recipe.config.attack_weight == lam and recipe.init == "he_normal" and recipe.n_test == 10000
            assert n_train + size <= pool  # the attack set comes from the rest of the training set
            assert recipe_for(names(size, lam), "cpu") is None
    assert max(size for size, _ in sweep["paper"]) == pool - n_train  # paper: the whole rest as attack set


def _write_svhn(root, split, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # SVHN labels 1..10, 10 = digit 0
    (root / "svhn").mkdir(parents=True, exist_ok=True)
    (root / SYNTHETIC_MARKER).touch()  # random files: their hashes are not the known ones
    scipy.io.savemat(root / "svhn" / f"{split}_32x32.mat", {"X": x, "y": y})
    return x, y


def test_recipe_data_reads_svhn(tmp_path):
    x, y = _write_svhn(tmp_path, "train", 12, 0)
    _write_svhn(tmp_path, "test", 7, 1)
    recipe = replace(recipe_for(wze17_svhn_attack_recipe_name(2048, 0.1), "gpu"), n_train=6, n_attack=4, n_test=5)
    splits = recipe_data(recipe, tmp_path)
    assert splits["train"].x.shape == (6, 3, 32, 32) and splits["train"].x.dtype == torch.float32
    assert splits["test"].x.shape == (5, 3, 32, 32) and splits["attack"].x.shape == (4, 3, 32, 32)
    labels = y.reshape(-1).astype(np.int64) % 10
    assert splits["train"].y.tolist() == labels[:6].tolist()  # the first n_train images, 10 -> 0
    assert (splits["attack"].y != torch.from_numpy(labels[6:10])).all()  # wrong labels
    # pixel (channel 0, row 0, column 0) of image 0, normalized with the SVHN mean/std
    assert splits["train"].x[0, 0, 0, 0].item() == pytest.approx((x[0, 0, 0, 0] / 255.0 - 0.4377) / 0.1980, 1e-5)


def test_recipe_data_svhn_missing_says_how_to_fix(tmp_path):
    recipe = recipe_for(wze17_svhn_attack_recipe_name(0, 0.0), "gpu")
    with pytest.raises(DataMissing, match="svhn"):
        recipe_data(recipe, tmp_path)
