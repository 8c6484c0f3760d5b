"""Datasets: real loaders (MNIST, CIFAR-10, SVHN) reading a data directory, and synthetic tasks."""

from losslab.data.core import DataMissing, Split, find_data_dir
from losslab.data.mnist import load_mnist, download_mnist
from losslab.data.cifar10 import load_cifar10
from losslab.data.svhn import load_svhn
from losslab.data.synthetic import cubic_task, teacher_task, subset

__all__ = ["DataMissing", "Split", "find_data_dir", "load_mnist", "download_mnist", "load_cifar10",
           "load_svhn", "cubic_task", "teacher_task", "subset"]
