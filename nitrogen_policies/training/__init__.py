"""Training NitroGen policies (behaviour cloning with flow matching). Only this subpackage reads datasets."""

from nitrogen_policies.training.entry import DataConfig, finetune_from, train_on_folders
from nitrogen_policies.training.trainer import TrainConfig, TrainResult, train

__all__ = ["DataConfig", "TrainConfig", "TrainResult", "finetune_from", "train", "train_on_folders"]
