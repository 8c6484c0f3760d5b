"""Build a network from a name and keyword arguments (what recipes store)."""

from __future__ import annotations

from torch import nn

from losslab.nets.cnn13 import CNN13
from losslab.nets.dcnn import LP17DCNN
from losslab.nets.densenet import FIRST_BLOCK_ACTIVATIONS, densenet121
from losslab.nets.resnet import resnet18, resnet32
from losslab.nets.small import LeNet, MLeNet, SmallNIN, fnn
from losslab.nets.vgg import VGG

# input shape (C, H, W) or (features,) per dataset, for skip-networks and neuron counts
INPUT_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32)}

BUILDERS = {
    "mlenet": MLeNet, "lenet": LeNet, "snin": SmallNIN, "fnn": fnn, "lp17-dcnn": LP17DCNN, "cnn13": CNN13,
    "vgg11": lambda **kw: VGG("vgg11", **kw), "vgg13": lambda **kw: VGG("vgg13", **kw),
    "vgg16": lambda **kw: VGG("vgg16", **kw), "resnet18": resnet18, "resnet32": resnet32,
    "densenet121": densenet121,
}


def build_net(name: str, skip: dict | None = None, **kwargs) -> nn.Module:
    """The network `name` built with kwargs; skip={'n': N, 'seed': s, 'input_shape': (...)} adds
    NMH19 skip connections from N random hidden neurons to the output."""
    if name not in BUILDERS:
        raise ValueError(f"unknown network {name!r}; known: {sorted(BUILDERS)}")
    model = BUILDERS[name](**kwargs)
    if skip:
        from losslab.nets.skip import SkipToOutput
        model = SkipToOutput(model, tuple(skip["input_shape"]), skip["n"], skip["seed"],
                             classes=kwargs.get("classes", 10),
                             only_first=FIRST_BLOCK_ACTIVATIONS if name == "densenet121" else None)
    return model
