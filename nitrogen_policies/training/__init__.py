"""Training NitroGen policies (behaviour cloning with flow matching). Only this subpackage reads datasets."""

from nitrogen_policies.training.trainer import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
