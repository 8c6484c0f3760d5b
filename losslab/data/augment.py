"""C-10+ augmentation (NMH19 Table 2, the standard of He et al. 2016): random crop of the zero-padded image
(pad 4) and a random horizontal flip, batched, on the tensor's device, drawn from a seeded CPU generator."""

from __future__ import annotations

import torch

AUGMENTATIONS = ("crop-flip",)


def crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """out[b, :, i, j] = padded[b, :, i + dy_b, j' + dx_b], j' = W-1-j when image b is flipped (else j),
    dy_b, dx_b uniform in 0..2 pad, flip with probability 1/2; padded = x with `pad` zero pixels per side."""
    batch, _, height, width = x.shape
    # offsets and flips come from the CPU generator so the draw is the same on every device
    dy, dx = (torch.randint(0, 2 * pad + 1, (batch,), generator=generator) for _ in range(2))
    flip = torch.randint(0, 2, (batch,), generator=generator).bool()
    rows = (dy[:, None] + torch.arange(height)).to(x.device)
    cols_plain = torch.arange(width)
    cols = (dx[:, None] + torch.where(flip[:, None], width - 1 - cols_plain, cols_plain)).to(x.device)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    b = torch.arange(batch, device=x.device)[:, None, None]
    return padded[b, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # NHWC strides: channels_last


def augment(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """The batch x augmented by `kind` (one of AUGMENTATIONS; ValueError otherwise)."""
    if kind == "crop-flip":
        return crop_flip(x, generator)
    raise ValueError(f"unknown augmentation {kind!r}; known: {AUGMENTATIONS}")
