"""Train or fine-tune on demonstration folders in one call: what ``nitrogen train`` / ``finetune`` run.

Example::

    from nitrogen_policies.training import DataConfig, TrainConfig, finetune_from, train_on_folders

    result = train_on_folders(TrainConfig(out="runs/s1", steps=20000), DataConfig(folders=("demos/coinrun",)))
    tuned = finetune_from(result.out / "final", DataConfig(folders=("demos/mygame",)), TrainConfig(out="runs/ft"))

The commands parse their flags into these same two dataclasses, so every default lives here or in
:class:`~nitrogen_policies.training.trainer.TrainConfig`, and a Python user gets what a command user gets:
``imitation`` trajectories converted into datasets under the run folder, game names mapped to the policy's
game vocabulary, weighted mixtures, and resuming an interrupted run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nitrogen_policies.errors import InvalidConfig, TrajectoryFileError
from nitrogen_policies.nitrogen import NitroGenConfig, NitroGenPolicy
from nitrogen_policies.training.data import import_imitation_trajectories, load_training_data
from nitrogen_policies.training.trainer import TrainConfig, TrainResult, train

logger = logging.getLogger(__name__)

IMITATION_FOLDER = "imitation_data"
"""Sub-folder of the run folder that holds converted ``imitation`` trajectories (one dataset per source)."""


@dataclass
class DataConfig:
    """The demonstrations a run trains on.

    Args:
        folders: demonstration dataset folders (``nitrogen data`` format).
        weights: sampling weight per entry of ``folders``, in order; empty samples every demonstration
            step alike (bigger datasets weigh more).
        imitation: trajectories saved by ``imitation.data.serialize.save`` (FlatGamepad actions), a folder or
            an ``.npz`` each; converted once into datasets under ``<out>/imitation_data`` and added to
            ``folders``. Read without pickle; pickle files are refused.
        imitation_game: game the ``imitation`` trajectories come from; required unless the files name it
            (``nitrogen data export-imitation`` does); the registry's unknown-game id,
            ``nitrogen_envs.registry.UNKNOWN_GAME``, for a game the policy has no id for.
    """

    folders: tuple[str | Path, ...] = ()
    weights: tuple[float, ...] = ()
    imitation: tuple[str | Path, ...] = ()
    imitation_game: str | None = None

    def __post_init__(self) -> None:
        self.folders, self.weights, self.imitation = tuple(self.folders), tuple(self.weights), tuple(self.imitation)
        if not self.folders and not self.imitation:
            raise InvalidConfig("give at least one dataset folder (--data DIR) or imitation trajectories")
        if self.weights and len(self.weights) != len(self.folders):
            raise InvalidConfig(
                f"got {len(self.weights)} weights for {len(self.folders)} datasets; give one weight per --data folder"
            )
        if self.weights and self.imitation:
            raise InvalidConfig("weights apply to --data folders only; drop them when you add imitation trajectories")
        if any(weight < 0 for weight in self.weights) or (self.weights and sum(self.weights) <= 0):
            raise InvalidConfig(f"weights must be >= 0 with a positive sum, got {list(self.weights)}")


def train_on_folders(config: TrainConfig, data: DataConfig) -> TrainResult:
    """Train ``config``'s policy (a fresh preset, or ``config.init_from``) on ``data``; resumes a killed run.

    Raises:
        NitroGenError: a typed error naming the problem, e.g. ``DatasetNotFound`` for a missing folder,
            ``TrajectoryFileError`` for unreadable trajectories, ``InvalidConfig`` or ``CheckpointError``
            for a bad preset, override or checkpoint.
    """
    out = Path(config.out)
    try:
        converted = tuple(
            import_imitation_trajectories(source, out / IMITATION_FOLDER / f"{index:02d}", game=data.imitation_game)
            for index, source in enumerate(data.imitation)
        )
    except TrajectoryFileError as err:  # say which step failed: the message names the file, not the run
        raise TrajectoryFileError(f"could not import imitation trajectories: {err}") from err
    dataset, sampler = load_training_data(
        (*data.folders, *converted), policy_config(config), data.weights or None, frame_cache=config.frame_cache
    )
    return train(config, dataset, sampler=sampler)


def finetune_from(
    checkpoint: str | os.PathLike[str], data: DataConfig, config: TrainConfig | None = None, head_only: bool = False
) -> TrainResult:
    """Fine-tune a pretrained policy (folder, bundled name or Hub id) on ``data``; see :func:`train_on_folders`.

    Args:
        checkpoint: the policy to start from.
        data: the demonstrations.
        config: the run's settings (``TrainConfig()`` by default); its ``init_from`` and ``head_only`` are
            replaced by the two arguments here.
        head_only: freeze the image encoder and train the action head only.
    """
    base = config if config is not None else TrainConfig()
    return train_on_folders(dataclasses.replace(base, init_from=str(checkpoint), head_only=head_only), data)


def policy_config(config: TrainConfig) -> NitroGenConfig:
    """The config of the policy ``config`` trains (it maps each dataset's game names to vocabulary ids)."""
    if config.init_from:
        return NitroGenPolicy.from_pretrained(config.init_from).config
    return NitroGenPolicy.from_config(config.policy, **config.policy_overrides).config
