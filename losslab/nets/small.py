"""WZE17's small networks: mLeNet (3,781 params), LeNet, sNIN (20, 30, 20), width-40 FNNs (Fig. 1)."""

from __future__ import annotations

from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.counting import mark_hidden


def _act(activation):
    return mark_hidden(make_activation(activation))


class MLeNet(nn.Module):
    """WZE17 App. A mLeNet: LeNet with the last FC layer replaced by conv + global average pooling.

    conv5x5(1->6) act maxpool2 | conv5x5(6->15) act maxpool2 | conv3x3(15->10) | global average pool.
    The paper gives only the total (3,781); with LeNet's 6/16 channels the count is 4,022, and 15
    channels in conv2 is the closest reading of this layout that gives exactly 3,781 (finding)."""

    def __init__(self, activation="relu", in_channels: int = 1, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), _act(activation), nn.MaxPool2d(2),
            nn.Conv2d(6, 15, 5), _act(activation), nn.MaxPool2d(2),
            nn.Conv2d(15, classes, 3))

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998, the 'standard model' of WZE17 App. A) for 28x28 inputs:
    conv5x5(1->6, pad 2) pool conv5x5(6->16) pool fc400->120 fc120->84 fc84->10 (61,706 params)."""

    def __init__(self, activation="relu", in_channels: int = 1, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), _act(activation), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), _act(activation), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), _act(activation), nn.Linear(120, 84), _act(activation),
            nn.Linear(84, classes))

    def forward(self, x):
        return self.features(x)


class SmallNIN(nn.Module):
    """WZE17 App. A sNIN: Network in Network (Lin et al. 2013) with block widths (20, 30, 20).

    Each block: conv kxk + two 1x1 convs (mlpconv); blocks 1-2 end with max-pool 3/2, block 3 maps to the
    classes and is globally averaged (NIN's CIFAR layout: k = 5, 5, 3)."""

    def __init__(self, widths=(20, 30, 20), activation="relu", in_channels: int = 1, classes: int = 10):
        super().__init__()
        a, b, c = widths

        def block(cin, width, k, out):
            return [nn.Conv2d(cin, width, k, padding=k // 2), _act(activation),
                    nn.Conv2d(width, width, 1), _act(activation), nn.Conv2d(width, out, 1)]

        self.features = nn.Sequential(
            *block(in_channels, a, 5, a), _act(activation), nn.MaxPool2d(3, 2, padding=1),
            *block(a, b, 5, b), _act(activation), nn.MaxPool2d(3, 2, padding=1),
            *block(b, c, 3, classes))

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


def fnn(hidden_layers: int, width: int = 40, in_features: int = 1, out_features: int = 1,
        activation="relu") -> nn.Sequential:
    """WZE17 Fig. 1 fully connected net: `hidden_layers` hidden layers of width 40 (hidden_layers + 1 Linear).

    Reading "12-layer" as 12 hidden layers gives 18,161 params ("about 18000", §2.1); 12 Linear layers
    would give 16,521."""
    if hidden_layers < 1:
        raise ValueError("hidden_layers >= 1")
    sizes = [in_features] + [width] * hidden_layers + [out_features]
    layers: list[nn.Module] = []
    for i in range(hidden_layers + 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < hidden_layers:
            layers.append(_act(activation))
    return nn.Sequential(*layers)
