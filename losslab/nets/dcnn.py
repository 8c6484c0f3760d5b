"""LP17's 6-layer CIFAR DCNN (App. B / §4): 3x3 stride-2 convs, BN without affine, no pooling."""

from __future__ import annotations

from torch import nn

from losslab.nets.activations import make_activation
from losslab.nets.counting import mark_hidden


class LP17DCNN(nn.Module):
    """Input + 5 layers. The paper gives no widths, only 188,810 parameters.

    The paper's all-conv reading (five 3x3 stride-2 convs, 32x32 -> 1x1, the last with 10 channels) reaches
    188,810 only with irregular widths: of the widths in multiples of 8 up to 256, ten 4-tuples do, none of
    them non-decreasing (e.g. 32, 64, 152, 56). The reading with standard widths that does is
    conv3x3/2(3->32) BN act | conv3x3/2(32->64) BN act | conv3x3/2(64->64) BN act | FC(1024->128) BN act |
    FC(128->10), biases everywhere, BN(affine=False) between hidden layers (finding: two layers are FC)."""

    def __init__(self, widths=(32, 64, 64), hidden: int = 128, activation="relu", classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        cin, size = 3, 32
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, stride=2, padding=1), nn.BatchNorm2d(w, affine=False),
                       mark_hidden(make_activation(activation))]
            cin, size = w, (size + 1) // 2
        layers += [nn.Flatten(), nn.Linear(cin * size * size, hidden), nn.BatchNorm1d(hidden, affine=False),
                   mark_hidden(make_activation(activation)), nn.Linear(hidden, classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
