"""NMH19 Table 3: CNN13 for MNIST (13 conv layers + FC 10)."""

from __future__ import annotations

from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.counting import mark_hidden

# (kernel, out_channels, stride) of the 13 conv layers, in Table 3's order
CNN13_LAYERS = [(3, 64, 1), (3, 64, 1), (3, 64, 2), (3, 128, 1), (3, 128, 1), (3, 128, 2), (3, 256, 1),
                (1, 256, 1), (3, 256, 2), (3, 256, 1), (3, 256, 2), (3, 256, 1), (3, 256, 2)]


class CNN13(nn.Module):
    """Table 3 of NMH19, each conv followed by the activation; padding k//2 gives the table's sizes."""

    def __init__(self, activation="softplus", in_channels: int = 1, classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for k, cout, stride in CNN13_LAYERS:
            layers += [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2),
                       mark_hidden(make_activation(activation))]
            cin = cout
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        return self.classifier(self.features(x))
