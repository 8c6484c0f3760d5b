"""losslab.data.augment against exact answers: hand-built crops and flips, seeding, shapes."""

import pytest
import torch

from losslab.data.augment import augment, crop_flip


def _image(batch=1, channels=2, size=5):
    return torch.arange(batch * channels * size * size, dtype=torch.float32).reshape(batch, channels, size, size)


def _reference(x, dy, dx, flip, pad):
    """One image (C, H, W) cropped at (dy, dx) from its zero-padded copy, then flipped, by slicing."""
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    out = padded[:, dy:dy + x.shape[1], dx:dx + x.shape[2]]
    return out.flip(-1) if flip else out


def test_every_image_is_a_padded_crop_with_the_drawn_offsets_and_flip():
    x, pad = _image(batch=64), 2
    g = torch.Generator().manual_seed(3)
    out = crop_flip(x, torch.Generator().manual_seed(3), pad=pad)
    dy, dx = (torch.randint(0, 2 * pad + 1, (64,), generator=g) for _ in range(2))
    flip = torch.randint(0, 2, (64,), generator=g).bool()
    for b in range(64):
        assert torch.equal(out[b], _reference(x[b], int(dy[b]), int(dx[b]), bool(flip[b]), pad))
    assert flip.any() and (~flip).any() and len(set(dy.tolist())) == 2 * pad + 1


def test_centre_crop_without_flip_is_the_identity_and_corner_crop_shifts_in_zeros():
    x = _image()
    assert torch.equal(_reference(x[0], 4, 4, False, 4), x[0])
    corner = _reference(x[0], 0, 0, False, 4)
    assert torch.equal(corner[:, 4:, 4:], x[0, :, :1, :1]) and corner[:, :4].abs().sum() == 0


def test_same_seed_same_batch_and_shape_dtype_kept():
    x = torch.randn(8, 3, 32, 32)
    a = augment(x, "crop-flip", torch.Generator().manual_seed(0))
    b = augment(x, "crop-flip", torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype
    assert not torch.equal(a, augment(x, "crop-flip", torch.Generator().manual_seed(1)))


def test_unknown_augmentation_is_an_error():
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(_image(), "cutout", torch.Generator())


def test_trainer_feeds_augmented_batches_when_asked():
    from losslab.data import Split
    from losslab.train import TrainConfig, train
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 10))
    seen = []
    model.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].clone()) if model.training else None)
    train(model, Split(x, y), TrainConfig(epochs=1, batch_size=None, augment="crop-flip"), seed=0)
    expected = augment(x, "crop-flip", torch.Generator().manual_seed(0 + 2))  # the trainer's seed + 2 stream
    assert torch.equal(seen[0], expected) and not torch.equal(seen[0], x)
