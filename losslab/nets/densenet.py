"""DenseNet-121 (Huang et al. 2017: growth 32, blocks 6/12/24/16, bottleneck 4k, compression 0.5) with a
3x3 stride-1 stem for CIFAR (NMH19 Table 2)."""

from __future__ import annotations

import torch
from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.counting import mark_hidden

FIRST_BLOCK_ACTIVATIONS = 12  # hidden activations of the first dense block: NMH19 draws DenseNet121's skip neurons there


class DenseLayer(nn.Module):
    """BN-act-conv1x1(4k)-BN-act-conv3x3(k), output concatenated to the input."""

    def __init__(self, cin: int, growth: int, activation):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), mark_hidden(make_activation(activation)), nn.Conv2d(cin, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth), mark_hidden(make_activation(activation)),
            nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.body(x)], dim=1)


class DenseNet(nn.Module):
    def __init__(self, blocks=(6, 12, 24, 16), growth: int = 32, stem: int = 64, activation="relu",
                 classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, stem, 3, padding=1, bias=False)]
        channels = stem
        for i, n in enumerate(blocks):
            block = []
            for _ in range(n):
                block.append(DenseLayer(channels, growth, activation))
                channels += growth
            layers.append(nn.Sequential(*block))
            if i < len(blocks) - 1:  # transition: BN-act-conv1x1(channels/2)-avgpool2
                layers += [nn.BatchNorm2d(channels), mark_hidden(make_activation(activation)),
                           nn.Conv2d(channels, channels // 2, 1, bias=False), nn.AvgPool2d(2)]
                channels //= 2
        layers += [nn.BatchNorm2d(channels), mark_hidden(make_activation(activation))]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def densenet121(activation="relu", classes: int = 10, growth: int = 32, stem: int = 64) -> DenseNet:
    """DenseNet-121, CIFAR layout (3x3 stem conv without BN): 6,956,298 params with 10 classes.
    torchvision's ImageNet densenet121 has 7,978,856 = this + 7,680 (7x7 stem) + 128 (stem BN)
    + 990 x 1,025 (990 more classes). Its first dense block holds the first 12 hidden activations
    (FIRST_BLOCK_ACTIVATIONS; build_net's skip-network draws from them, NMH19 Table 2). growth / stem other
    than 32 / 64: the same layout narrower (the smoke scale's)."""
    return DenseNet(growth=growth, stem=stem, activation=activation, classes=classes)
