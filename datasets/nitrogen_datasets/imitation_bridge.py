"""Bridge to the ``imitation`` library: export episodes as ``TrajectoryWithRew`` and import them back.

``imitation`` wants ``N + 1`` observations for ``N`` actions (the observation after the last action),
while our format stores ``N`` frames (frame ``t`` is the one action ``t`` was taken on). On export the
missing final observation is a **copy of the last stored frame**; on import the final observation is
**dropped**. So ``export -> import`` reproduces the dataset exactly (up to codec error on frames), and a
BC learner sees every recorded (frame, action) pair once, because BC uses ``obs[:-1]`` only.

Export decodes whole episodes into memory (``imitation`` holds trajectories as arrays), so export the
episodes you need, not a corpus.

Example:
    >>> trajectories = to_trajectories(DemoDataset("demos"))  # doctest: +SKIP
    >>> bc.BC(observation_space=..., action_space=..., demonstrations=trajectories, rng=rng)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from nitrogen_datasets.errors import InvalidEpisode
from nitrogen_datasets.format import EpisodeInfo
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.reader import DemoDataset
from nitrogen_datasets.writer import DatasetWriter

logger = logging.getLogger(__name__)


def to_trajectories(dataset: DemoDataset, episodes: Sequence[int] | None = None) -> list[Any]:
    """Episodes of ``dataset`` as ``imitation.data.types.TrajectoryWithRew``.

    Args:
        dataset: the dataset to export.
        episodes: positions in ``dataset.episodes`` to export (all when ``None``).

    Returns:
        One trajectory per episode: ``obs`` (N + 1, H, W, 3) uint8 with the last frame repeated, ``acts``
        (N, 21) float32 flat gamepad vectors, ``rews`` (N,) float32, ``infos`` ``None``, ``terminal`` true
        when the episode's last step was ``terminated`` (not a time limit).
    """
    types = require_package("imitation.data.types")
    result = []
    for position in range(len(dataset.episodes)) if episodes is None else episodes:
        frames = np.stack(list(dataset.iter_episode_frames(position)))
        table = dataset.read_episode_table(position)
        acts = np.stack([table.column(name).to_numpy() for name in dataset.info.action_names], axis=1)
        rews = table.column("reward").to_numpy().astype(np.float32)
        terminal = bool(table.column("terminated").to_numpy()[-1])
        obs = np.concatenate([frames, frames[-1:]], axis=0)
        result.append(
            types.TrajectoryWithRew(obs=obs, acts=acts.astype(np.float32), infos=None, terminal=terminal, rews=rews)
        )
    return result


def from_trajectories(
    trajectories: Iterable[Any],
    writer: DatasetWriter,
    *,
    game: str,
    task: str,
    source: str = "imitation",
) -> list[EpisodeInfo]:
    """Append ``imitation`` trajectories to a dataset, one episode each.

    Args:
        trajectories: ``Trajectory`` or ``TrajectoryWithRew`` with (N + 1, H, W, 3) uint8 ``obs`` and
            (N, 21) flat gamepad ``acts``; the final observation is dropped (see the module docstring).
        writer: the dataset to append to.
        game: game name stored with every episode (trajectories do not carry one).
        task: task name stored with every episode.
        source: stored in the ``source`` column.

    Returns:
        The episodes written.

    Raises:
        InvalidEpisode: observations are not RGB uint8 frames, or actions are not (N, 21).
    """
    written = []
    for number, trajectory in enumerate(trajectories):
        obs = np.asarray(trajectory.obs)
        acts = np.asarray(trajectory.acts, dtype=np.float32)
        if obs.ndim != 4 or obs.shape[-1] != 3 or obs.dtype != np.uint8:
            raise InvalidEpisode(
                f"trajectory {number}: obs must be (N + 1, H, W, 3) uint8 RGB frames, got shape {obs.shape} "
                f"dtype {obs.dtype}; image observations from a NitroGen env have this layout"
            )
        if acts.ndim != 2 or acts.shape[1] != 21 or len(obs) != len(acts) + 1:
            raise InvalidEpisode(
                f"trajectory {number}: expected N + 1 obs and (N, 21) flat gamepad acts, got {len(obs)} obs and "
                f"acts of shape {acts.shape}; wrap the env in nitrogen_envs.FlatGamepad when collecting"
            )
        rews = getattr(trajectory, "rews", None)
        written.append(
            writer.add_episode(
                obs[:-1],
                acts,
                rews,
                game=game,
                task=task,
                source=source,
                terminated=bool(trajectory.terminal),
                truncated=not bool(trajectory.terminal),
            )
        )
    logger.info("imported %d trajectories into %s", len(written), writer.root)
    return written
