"""Demonstration datasets -> policy training samples (the only module of the policy zoo that reads them)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset, WeightedRandomSampler

from nitrogen_policies.nitrogen.configuration_nitrogen import UNKNOWN_GAME, NitroGenConfig

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
    frame_cache: str | None = None,
) -> tuple[Dataset, WeightedRandomSampler | None]:
    """Open demonstration folders for training; with ``weights``, a sampler mixing them in those proportions.

    ``frame_cache`` (a folder, or ``"auto"``) decodes each folder's frames and actions once into files that
    samples are read from (``ReaderConfig.frame_cache``).

    Raises:
        ValueError: no folder given, or as many weights as folders are not given.
    """
    from nitrogen_datasets.reader import DemoDataset, ReaderConfig

    if not folders:
        raise ValueError("give at least one dataset folder (--data DIR)")
    if weights is not None and len(weights) != len(folders):
        raise ValueError(f"got {len(weights)} weights for {len(folders)} datasets; give one weight per --data folder")
    reader_config = ReaderConfig(action_chunk=config.chunk_size, skip_corrupt=skip_corrupt, frame_cache=frame_cache)
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


IMPORT_STAMP = "meta/imported_from.json"
"""Inside a converted dataset: the source's file stamps and the names used, so a rerun (resume) reuses it."""


def import_imitation_trajectories(
    source: str | Path, out: str | Path, game: str | None = None, task: str | None = None
) -> Path:
    """Convert ``imitation`` trajectories into a demonstrations dataset (once: a rerun reuses it).

    Read without pickle (:mod:`nitrogen_policies.training.trajectory_files`): the folder ``serialize.save``
    or ``nitrogen data export-imitation`` writes, or an ``.npz`` of plain arrays; a pickle file is refused
    before anything in it is read. ``obs`` must be (N + 1, H, W, 3) uint8 frames and ``acts`` (N, 21) flat
    gamepad vectors, i.e. collected on a ``FlatGamepad``-wrapped NitroGen env. Frames are stored at their
    size in the file (export at the policy's input size, as ``export-imitation`` does by default, and the
    conversion and every training read decode 4x fewer pixels than at 256 px).

    The dataset is built beside ``out`` and renamed into place, so a killed conversion leaves nothing;
    when ``out`` already holds the conversion of the same, unchanged ``source`` with the same names (a
    resumed ``nitrogen finetune``), it is returned as it is instead of converted (and appended) again.

    Args:
        source: the trajectories folder or ``.npz``.
        out: the dataset folder to create.
        game: the game every trajectory comes from; ``None`` takes each trajectory's game from the file
            (``export-imitation`` names it), which is then required.
        task: the task; ``None`` takes it from the file, else ``"default"``.

    Raises:
        TrajectoryFileError: ``source`` is not one of the accepted formats, is malformed, names no game and
            ``game`` is ``None``; or ``out`` holds something other than this conversion.
    """
    from nitrogen_policies.errors import TrajectoryFileError
    from nitrogen_policies.training.trajectory_files import read_trajectories

    target = Path(out)
    stamp = {"source": _file_stamps(Path(source)), "game": game, "task": task}
    if target.exists() or target.is_symlink():
        if _read_stamp(target) == stamp:
            logger.info("%s already holds the conversion of %s; reusing it", target, source)
            return target
        raise TrajectoryFileError(
            f"{target} already exists and is not the conversion of {source} as it is now; delete it or use a new --out"
        )
    trajectories = read_trajectories(source)
    first = next(trajectories, None)  # format errors surface before the output dataset is touched
    if first is None:
        raise TrajectoryFileError(f"{source} holds no trajectories")
    if game is None and first.game is None:
        raise TrajectoryFileError(
            f"{source} does not name its game; give it with --imitation-game GAME (e.g. CoinRun, or "
            f"'{UNKNOWN_GAME}' for a game the policy does not know)"
        )
    written = _convert(itertools.chain([first], trajectories), target, game, task, stamp)
    logger.info("imported %d imitation trajectories from %s into %s", written, source, target)
    return target


def _convert(trajectories: Any, target: Path, game: str | None, task: str | None, stamp: dict[str, Any]) -> int:
    """Write ``trajectories`` as a dataset at ``target`` (staged beside it, renamed when complete)."""
    import os
    import shutil

    from nitrogen_datasets.imitation_bridge import from_trajectories
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{os.getpid()}-{os.urandom(4).hex()}.partial"
    written = 0
    try:
        with DatasetWriter(staging, WriterConfig()) as writer:
            for trajectory in trajectories:
                name = game or trajectory.game
                if name is None:
                    raise ValueError("a trajectory file names the game of some trajectories only")  # reader bug
                from_trajectories(
                    [trajectory], writer, game=name, task=task or trajectory.task or "default", source="imitation"
                )
                written += 1
        (staging / IMPORT_STAMP).write_text(json.dumps(stamp))
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written


def _file_stamps(source: Path) -> list[list[Any]]:
    """(name, size, mtime) of ``source`` or of each file directly in it: changes when the trajectories do."""
    files = sorted(source.iterdir()) if source.is_dir() else [source]
    return [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files if path.is_file()]


def _read_stamp(target: Path) -> Any:
    path = target / IMPORT_STAMP
    try:
        if path.is_file() and path.stat().st_size < 1024 * 1024:
            return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    return None
