"""Training engine: full-batch GD / SGD (momentum, Nesterov), step schedules, WZE17 attack sets."""

from losslab.train.trainer import TrainConfig, TrainResult, evaluate, train, wrong_labels

__all__ = ["TrainConfig", "TrainResult", "evaluate", "train", "wrong_labels"]
