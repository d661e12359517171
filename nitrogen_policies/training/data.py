"""Demonstration datasets -> policy training samples (the only module of the policy zoo that reads them)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset, WeightedRandomSampler

from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig

logger = logging.getLogger(__name__)


class PolicySamples(Dataset):
    """One demonstrations dataset, with keys and game ids in the policy's layout.

    The reader's ``frame`` becomes ``frames`` and its dataset-local ``game_id`` becomes the index of
    that game in the policy's vocabulary (unknown games map to 0, the zero-shot id).
    """

    def __init__(self, demos: Any, config: NitroGenConfig) -> None:
        self.demos = demos
        self.game_ids = [config.game_id(name) for name in demos.game_names]

    def __len__(self) -> int:
        return len(self.demos)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.demos[index]
        return {
            "frames": sample["frame"],
            "actions": sample["actions"],
            "action_mask": sample["action_mask"],
            "game_id": torch.tensor(self.game_ids[int(sample["game_id"])], dtype=torch.long),
        }


def load_training_data(
    folders: Sequence[str | Path],
    config: NitroGenConfig,
    weights: Sequence[float] | None = None,
    skip_corrupt: bool = True,
) -> tuple[Dataset, WeightedRandomSampler | None]:
    """Open demonstration folders for training; with ``weights``, a sampler mixing them in those proportions.

    Raises:
        ValueError: no folder given, or as many weights as folders are not given.
    """
    from nitrogen_datasets.reader import DemoDataset, ReaderConfig

    if not folders:
        raise ValueError("give at least one dataset folder (--data DIR)")
    if weights is not None and len(weights) != len(folders):
        raise ValueError(f"got {len(weights)} weights for {len(folders)} datasets; give one weight per --data folder")
    reader_config = ReaderConfig(action_chunk=config.chunk_size, skip_corrupt=skip_corrupt)
    parts = [PolicySamples(DemoDataset(folder, reader_config), config) for folder in folders]
    for folder, part in zip(folders, parts, strict=True):
        logger.info("%s: %d samples", folder, len(part))
    dataset: ConcatDataset[dict[str, torch.Tensor]] = ConcatDataset(parts)
    if weights is None:
        return dataset, None
    per_sample = torch.cat(
        [torch.full((len(part),), float(w) / max(1, len(part))) for part, w in zip(parts, weights, strict=True)]
    )
    return dataset, WeightedRandomSampler(per_sample.tolist(), num_samples=len(dataset), replacement=True)


def import_imitation_trajectories(source: str | Path, out: str | Path, game: str, task: str = "default") -> Path:
    """Convert trajectories saved by ``imitation.data.serialize.save`` into a demonstrations dataset.

    Read without pickle (:mod:`nitrogen_policies.training.trajectory_files`): the folder ``serialize.save``
    writes, or an ``.npz`` of plain arrays; a pickle file is refused before anything in it is read.
    ``obs`` must be (N + 1, H, W, 3) uint8 frames and ``acts`` (N, 21) flat gamepad vectors, i.e. collected
    on a ``FlatGamepad``-wrapped NitroGen env. Returns the dataset folder (appended to if it exists).

    Raises:
        TrajectoryFileError: ``source`` is not one of the accepted formats, or is malformed.
    """
    from nitrogen_datasets.imitation_bridge import from_trajectories
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig
    from nitrogen_policies.errors import TrajectoryFileError
    from nitrogen_policies.training.trajectory_files import read_trajectories

    trajectories = read_trajectories(source)
    first = next(trajectories, None)  # format errors surface before the output dataset is touched
    if first is None:
        raise TrajectoryFileError(f"{source} holds no trajectories")
    with DatasetWriter(out, WriterConfig()) as writer:
        written = from_trajectories(
            itertools.chain([first], trajectories), writer, game=game, task=task, source="imitation"
        )
    logger.info("imported %d imitation trajectories from %s into %s", len(written), source, out)
    return Path(out)
