"""VGG11/13/16 for CIFAR-10 with the FC layers narrowed from 4096 to 128 (NMH19 §5)."""

from __future__ import annotations

from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.cnn13 import scaled_channels
from losslab.nets.counting import mark_hidden

CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman 2015, configs A/B/D) without BN, FC 512->128->128->classes.
    width scales every conv's out_channels (scaled_channels; the FC width stays fc_width); 1.0 = the paper's."""

    def __init__(self, name: str = "vgg11", fc_width: int = 128, activation="relu", classes: int = 10,
                 width: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in CONFIGS[name]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                cout = scaled_channels(v, width)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), mark_hidden(make_activation(activation))]
                cin = cout
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(cin, fc_width), mark_hidden(make_activation(activation)),
            nn.Linear(fc_width, fc_width), mark_hidden(make_activation(activation)),
            nn.Linear(fc_width, classes))

    def forward(self, x):
        return self.classifier(self.features(x))
