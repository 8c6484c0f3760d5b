"""Model zoo: the papers' architectures with their parameter counts, activations swappable."""

from losslab.nets.activations import Polynomial, make_activation
from losslab.nets.counting import count_hidden_neurons, count_parameters
from losslab.nets.small import LeNet, MLeNet, SmallNIN, fnn
from losslab.nets.dcnn import LP17DCNN
from losslab.nets.cnn13 import CNN13
from losslab.nets.vgg import VGG
from losslab.nets.resnet import resnet18, resnet32
from losslab.nets.densenet import densenet121
from losslab.nets.skip import SkipToOutput
from losslab.nets.registry import build_net

__all__ = ["Polynomial", "make_activation", "count_parameters", "count_hidden_neurons", "LeNet", "MLeNet",
           "SmallNIN", "fnn", "LP17DCNN", "CNN13", "VGG", "resnet18", "resnet32", "densenet121", "SkipToOutput", "build_net"]
