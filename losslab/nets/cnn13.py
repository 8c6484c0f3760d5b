"""NMH19 Table 3: CNN13 for MNIST (13 conv layers + FC 10)."""

from __future__ import annotations

from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.counting import mark_hidden

# (kernel, out_channels, stride) of the 13 conv layers, in Table 3's order
CNN13_LAYERS = [(3, 64, 1), (3, 64, 1), (3, 64, 2), (3, 128, 1), (3, 128, 1), (3, 128, 2), (3, 256, 1),
                (1, 256, 1), (3, 256, 2), (3, 256, 1), (3, 256, 2), (3, 256, 1), (3, 256, 2)]


def scaled_channels(channels: int, width: float) -> int:
    """round(width * channels), at least 1: the channel count of a width-reduced (or widened) layer."""
    return max(1, round(width * channels))


class CNN13(nn.Module):
    """Table 3 of NMH19, each conv followed by the activation; padding k//2 gives the table's sizes.
    width scales every conv's out_channels (scaled_channels); width=1.0 is the paper's net."""

    def __init__(self, activation="softplus", in_channels: int = 1, classes: int = 10, width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for k, channels, stride in CNN13_LAYERS:
            cout = scaled_channels(channels, width)
            layers += [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2),
                       mark_hidden(make_activation(activation))]
            cin = cout
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        return self.classifier(self.features(x))
