"""Bridge to the ``imitation`` library: export episodes as ``TrajectoryWithRew`` and import them back.

``imitation`` is a **data bridge** here: its trajectories carry our demonstrations to and from its tools
(``imitation.algorithms.bc`` trains its own SB3 policy on them, ``nitrogen baseline bc``), and
``nitrogen finetune --imitation`` trains a ``NitroGenPolicy`` on them. Its BC trainer cannot train a
``NitroGenPolicy`` (it takes an SB3 ``ActorCriticPolicy``).

``imitation`` wants ``N + 1`` observations for ``N`` actions (the observation after the last action),
while our format stores ``N`` frames (frame ``t`` is the one action ``t`` was taken on). On export the
missing final observation is a **copy of the last stored frame**; on import the final observation is
**dropped**. So ``export -> import`` reproduces the dataset exactly (up to codec error on frames, and the
resize when ``obs_size`` differs from the stored size), and a BC learner sees every recorded (frame, action)
pair once, because BC uses ``obs[:-1]`` only.

:func:`save_trajectories` (``nitrogen data export-imitation``) writes the folder ``imitation.data.serialize``
reads, compactly: frames once, uint8, at the policy's input size, in fixed-size Arrow lists (``serialize.save``
itself stores a 32-bit offset beside every pixel, ~2.3x the frame bytes). It also names each trajectory's
game and task in :data:`GAMES_FILE`, which ``imitation`` ignores and ``nitrogen finetune --imitation`` reads.

Example:
    >>> save_trajectories(DemoDataset("demos"), "demos_imitation")  # doctest: +SKIP
    >>> trajectories = imitation.data.serialize.load("demos_imitation")  # doctest: +SKIP
    >>> bc.BC(observation_space=..., action_space=..., demonstrations=trajectories, rng=rng)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nitrogen_datasets.errors import DatasetError, InvalidEpisode
from nitrogen_datasets.format import EpisodeInfo
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.reader import DemoDataset
from nitrogen_datasets.writer import DatasetWriter
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

EXPORT_OBS_SIZE = 128
"""Default side of exported frames: the input size of ``nitrogen-s`` (``NitroGenConfig.image_size``, tested equal).
Larger frames would only be shrunk again by the policy, so storing them costs bytes and decode time."""
GAMES_FILE = "nitrogen.json"
"""Sidecar naming each exported trajectory's game and task (``imitation``'s format has no place for them)."""
GAMES_FORMAT = "nitrogen-imitation-export/1"
"""``format`` field of :data:`GAMES_FILE`; a reader refuses any other value."""
SHARD_NAME = "data-00000-of-00001.arrow"
"""The one Arrow stream file, named as ``datasets``' ``save_to_disk`` names a single shard."""


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`save_trajectories` wrote.

    Args:
        out: the trajectories folder.
        trajectories: trajectories (episodes) written.
        frames: stored frames, ``N + 1`` per trajectory.
        bytes: size of the folder's files.
        obs_size: side of the stored square frames.
    """

    out: Path
    trajectories: int
    frames: int
    bytes: int
    obs_size: int

    @property
    def bytes_per_frame(self) -> float:
        """Folder bytes over stored frames (the figure to compare with ``serialize.save``'s ~2.3 x H x W x 3)."""
        return self.bytes / max(1, self.frames)


def episode_arrays(
    dataset: DemoDataset, position: int, obs_size: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One episode in ``imitation``'s layout: ``(obs, acts, rews, terminal)``.

    ``obs`` is (N + 1, S, S, 3) uint8 (the last frame repeated), decoded straight into one array (no
    intermediate list or concatenation, so peak memory is the result); ``S`` is the stored size when
    ``obs_size`` is ``None``. ``acts`` is (N, 21) float32, ``rews`` (N,) float32.
    """
    from nitrogen_envs.image import resize_frame

    episode = dataset.episodes[position]
    height, width = (dataset.info.frame_height, dataset.info.frame_width) if obs_size is None else (obs_size, obs_size)
    obs = np.empty((episode.length + 1, height, width, 3), dtype=np.uint8)
    for index, frame in enumerate(dataset.iter_episode_frames(position)):
        obs[index] = resize_frame(frame, (height, width))
    obs[-1] = obs[-2]
    table = dataset.read_episode_table(position)
    acts = np.stack([table.column(name).to_numpy() for name in dataset.info.action_names], axis=1)
    rews = table.column("reward").to_numpy().astype(np.float32)
    terminal = bool(table.column("terminated").to_numpy()[-1])
    return obs, acts.astype(np.float32), rews, terminal


def _positions(dataset: DemoDataset, episodes: Sequence[int] | None) -> Sequence[int]:
    return range(len(dataset.episodes)) if episodes is None else episodes


def to_trajectories(
    dataset: DemoDataset, episodes: Sequence[int] | None = None, *, obs_size: int | None = None
) -> list[Any]:
    """Episodes of ``dataset`` as ``imitation.data.types.TrajectoryWithRew``, held in memory.

    Args:
        dataset: the dataset to export.
        episodes: positions in ``dataset.episodes`` to export (all when ``None``).
        obs_size: resize frames to this square side (e.g. :data:`EXPORT_OBS_SIZE`); ``None`` keeps the stored size.

    Returns:
        One trajectory per episode: ``obs`` (N + 1, H, W, 3) uint8 with the last frame repeated, ``acts``
        (N, 21) float32 flat gamepad vectors, ``rews`` (N,) float32, ``infos`` ``None``, ``terminal`` true
        when the episode's last step was ``terminated`` (not a time limit). Export the episodes you need,
        not a corpus: every frame is in memory (:func:`save_trajectories` streams to disk instead).
    """
    types = require_package("imitation.data.types")
    result = []
    for position in _positions(dataset, episodes):
        obs, acts, rews, terminal = episode_arrays(dataset, position, obs_size)
        result.append(types.TrajectoryWithRew(obs=obs, acts=acts, infos=None, terminal=terminal, rews=rews))
    return result


def save_trajectories(
    dataset: DemoDataset,
    out: str | os.PathLike[str],
    *,
    obs_size: int | None = EXPORT_OBS_SIZE,
    episodes: Sequence[int] | None = None,
    progress: bool = False,
) -> ExportSummary:
    """Write episodes as an ``imitation`` trajectories folder (what ``imitation.data.serialize.load`` reads).

    One episode is in memory at a time. The folder appears whole or not at all (written beside ``out``,
    then renamed), so an interrupted export leaves nothing that looks finished.

    Args:
        dataset: the dataset to export.
        out: the folder to create; must not exist.
        obs_size: square side of the stored frames; ``None`` keeps the dataset's size.
        episodes: positions in ``dataset.episodes`` to export (all when ``None``).
        progress: show a progress bar over frames on stderr (with ETA; a line every few seconds in logs).

    Raises:
        DatasetError: ``out`` already exists, or there is nothing to export.
    """
    require_package("imitation")  # the format's reader; also brings Hugging Face ``datasets``
    target = Path(out)
    if target.exists() or target.is_symlink():
        raise DatasetError(f"{target} already exists; give a new --out folder (the export never overwrites)")
    positions = list(_positions(dataset, episodes))
    if not positions:
        raise DatasetError(f"{dataset.root} has no episodes to export; record some first (nitrogen data record)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{os.getpid()}-{os.urandom(4).hex()}.partial"
    staging.mkdir()  # honours the umask, unlike tempfile.mkdtemp's 0700
    try:
        size = (dataset.info.frame_height, dataset.info.frame_width) if obs_size is None else (obs_size, obs_size)
        features = _features(*size)
        names = [(dataset.episodes[p].game, dataset.episodes[p].task) for p in positions]
        with progress_bar(
            sum(dataset.episodes[p].length for p in positions), "exporting", unit="frame", enabled=progress
        ) as bar:
            batches = _batches(dataset, positions, obs_size, features, bar.update)
            frames = _write_shard(staging / SHARD_NAME, features, batches)
        _write_json(staging / "dataset_info.json", _dataset_info(features))
        _write_json(staging / "state.json", _state())
        _write_json(staging / GAMES_FILE, _games(names, size[0]))
        total = sum(path.stat().st_size for path in staging.iterdir())
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary = ExportSummary(target, len(positions), frames, total, size[0])
    logger.info("exported %d trajectories (%d frames, %d bytes) to %s", len(positions), frames, total, target)
    return summary


def _features(height: int, width: int) -> Any:
    """``datasets`` features of the export: imitation's columns, frames and actions as fixed-size lists."""
    # Hugging Face ``datasets`` (imitation's dependency), by name: type checkers see this repo's datasets/ folder
    datasets: Any = importlib.import_module("datasets")

    def fixed(feature: Any, *lengths: int) -> Any:
        for length in reversed(lengths):
            feature = datasets.Sequence(feature, length=length)
        return feature

    return datasets.Features(
        {
            "obs": datasets.Sequence(fixed(datasets.Value("uint8"), height, width, 3)),
            "acts": datasets.Sequence(fixed(datasets.Value("float32"), 21)),
            "infos": datasets.Sequence(datasets.Value("string")),
            "terminal": datasets.Value("bool"),
            "rews": datasets.Sequence(datasets.Value("float32")),
        }
    )


def _nested(values: np.ndarray, list_type: Any) -> Any:
    """``values`` (rows, *inner) as one row of ``list_type``: fixed-size lists inside one variable list.

    Built zero-copy from the flat buffer: no per-pixel offsets, unlike the nested lists ``datasets`` infers.
    """
    import pyarrow as pa  # type: ignore[import-untyped]

    def build(flat: Any, arrow_type: Any) -> Any:
        if pa.types.is_fixed_size_list(arrow_type):
            child = build(flat, arrow_type.value_type)
            return pa.FixedSizeListArray.from_arrays(child, arrow_type.list_size)
        return flat

    inner = build(pa.array(values.reshape(-1)), list_type.value_type)
    return pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), inner)


def _batches(
    dataset: DemoDataset,
    positions: Iterable[int],
    obs_size: int | None,
    features: Any,
    advance: Callable[[int], Any],
) -> Iterator[tuple[Any, int]]:
    """(Arrow record batch, stored frames) per episode, in the schema ``features`` describes."""
    import pyarrow as pa  # type: ignore[import-untyped]

    schema = features.arrow_schema
    empty_info = json.dumps({})  # what imitation stores for infos=None: jsonpickle of {}
    for position in positions:
        obs, acts, rews, terminal = episode_arrays(dataset, position, obs_size)
        columns = {
            "obs": _nested(obs, schema.field("obs").type),
            "acts": _nested(acts, schema.field("acts").type),
            "infos": pa.array([[empty_info] * len(acts)], schema.field("infos").type),
            "terminal": pa.array([terminal], pa.bool_()),
            "rews": pa.array([rews], schema.field("rews").type),
        }
        yield pa.RecordBatch.from_arrays([columns[name] for name in schema.names], schema=schema), len(obs)
        advance(len(acts))


def _write_shard(path: Path, features: Any, batches: Iterator[tuple[Any, int]]) -> int:
    """Stream ``batches`` into an Arrow IPC stream file (``datasets``' on-disk format); returns frames written."""
    import pyarrow as pa  # type: ignore[import-untyped]

    frames = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, features.arrow_schema) as stream:
        for batch, count in batches:
            stream.write_batch(batch)
            frames += count
    return frames


def _dataset_info(features: Any) -> dict[str, Any]:
    return {"citation": "", "description": "", "features": features.to_dict(), "homepage": "", "license": ""}


def _state() -> dict[str, Any]:
    """``state.json`` as ``datasets``' ``save_to_disk`` writes it for one unformatted shard."""
    return {
        "_data_files": [{"filename": SHARD_NAME}],
        "_fingerprint": os.urandom(8).hex(),
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }


def _games(names: Sequence[tuple[str, str]], obs_size: int) -> dict[str, Any]:
    return {
        "format": GAMES_FORMAT,
        "obs_size": obs_size,
        "trajectories": [{"game": game, "task": task} for game, task in names],
    }


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


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
