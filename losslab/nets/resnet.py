"""ResNet-18 (He et al. 2016, CIFAR stem) and ResNet-32 (the CIFAR 6n+2 family, n = 5, ~0.46M params)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.counting import mark_hidden


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN with identity (or 1x1 conv-BN / zero-padded) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, activation, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act1 = mark_hidden(make_activation(activation))
        self.act2 = mark_hidden(make_activation(activation))
        self.shortcut_kind = shortcut if (stride != 1 or cin != cout) else "identity"
        self.shortcut = nn.Sequential()
        if self.shortcut_kind == "conv":
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.extra = cout - cin

    def forward(self, x):
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut_kind == "pad":  # option A of He et al.: subsample and zero-pad channels
            short = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        else:
            short = self.shortcut(x)
        return self.act2(out + short)


class ResNet(nn.Module):
    def __init__(self, stages, widths, stem: int, activation, shortcut: str, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                  mark_hidden(make_activation(activation)))
        blocks, cin = [], stem
        for i, (n, w) in enumerate(zip(stages, widths)):
            for j in range(n):
                blocks.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1, activation, shortcut))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def _scaled(channels: list[int], width: float) -> list[int]:
    return [max(1, round(c * width)) for c in channels]


def resnet18(activation="relu", classes: int = 10, width: float = 1.0) -> ResNet:
    """ResNet-18 with a 3x3 stem for 32x32 inputs (11,173,962 params); width scales every conv's channels."""
    stem, *widths = _scaled([64, 64, 128, 256, 512], width)
    return ResNet([2, 2, 2, 2], widths, stem, activation, "conv", classes)


def resnet32(activation="relu", classes: int = 10, width: float = 1.0) -> ResNet:
    """ResNet-32 for CIFAR (He et al. 2016 §4.2, option A shortcuts): 464,154 params (paper: 0.46M); width
    scales every conv's channels (a multiple of 1/16 keeps option A's channel doubling)."""
    stem, *widths = _scaled([16, 16, 32, 64], width)
    return ResNet([5, 5, 5], widths, stem, activation, "pad", classes)
