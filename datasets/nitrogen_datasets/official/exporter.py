"""``nitrogen data export-nitrogen``: a dataset made here -> the released NitroGen layout, so NVIDIA's tools read it.

Each episode becomes one "video" (``ep_<index>``, its mp4 copied to ``OUT/videos/``) cut into chunks of at most
``chunk_seconds`` (20 s, as released; 0 keeps one chunk per episode)::

    OUT/actions/SHARD_0000/<video_id>/<video_id>_chunk_0000/actions_raw.parquet   release columns, 1 row per frame
    OUT/actions/SHARD_0000/<video_id>/<video_id>_chunk_0000/metadata.json         time range in the video, game
    OUT/videos/<video_id>.mp4                                                     the episode's frames

The boxes say "the whole frame is the game, no overlay" (an empty ``[0, 0, 0, 0]`` overlay box), and
``controller_type`` is ``xboxone`` (our button names are the Xbox layout's). Buttons and triggers are written pressed or not
(the release has no analog triggers); sticks get the release's y sign (see :mod:`.schema`). Importing the
result with ``import-nitrogen OUT/actions --videos OUT/videos`` at the dataset's fps and size gives the
same actions back. Every file is written to a temp name and renamed, so a rerun after a crash just completes it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nitrogen_datasets.format import ACTION_COLUMNS, TMP_SUFFIX, episode_paths, load_info
from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.official.schema import ACTIONS_FILE, CHUNK_SECONDS, METADATA_FILE, official_table
from nitrogen_datasets.safe_inputs import refuse_inside
from nitrogen_envs.progress import progress_bar

logger = logging.getLogger(__name__)

VIDEOS_PER_SHARD = 1000
"""Videos per ``SHARD_XXXX`` folder, so no folder holds more than a thousand."""
SOURCE_NAME = "nitrogen-gym"
"""``original_video.source`` of exported chunks."""


@dataclass(frozen=True)
class ExportStats:
    """What an export wrote: episodes (videos), chunks and frames."""

    episodes: int
    chunks: int
    frames: int


def video_id(dataset: Path, episode_index: int) -> str:
    """File-name-safe id of an exported episode: the dataset folder's name and the episode index."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", dataset.resolve().name).strip("-") or "dataset"
    return f"{name}_ep{episode_index:06d}"


def export_nitrogen(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    chunk_seconds: float = CHUNK_SECONDS,
    progress: bool | None = None,
) -> ExportStats:
    """Write every episode of ``dataset`` into ``out`` in the released layout (see the module docstring).

    Args:
        dataset: one of our dataset folders.
        out: output folder (created; files of a previous export of the same dataset are replaced).
        chunk_seconds: longest chunk; 0 writes one chunk per episode.
        progress: show a progress bar (``None``: only when stderr is a terminal).

    Raises:
        DatasetNotFound, InvalidDatasetInfo: ``dataset`` is not a readable dataset.
        OutputOverwritesInput: ``out`` is inside ``dataset`` (or the other way round).
        ValueError: a negative ``chunk_seconds``.
    """
    if chunk_seconds < 0:
        raise ValueError(f"chunk_seconds must be >= 0 (0: one chunk per episode), got {chunk_seconds}")
    pq = require_package("pyarrow.parquet")
    root, out = Path(dataset), Path(out)
    info = load_info(root)
    refuse_inside(out, root, "OUT_DIR", "dataset")
    refuse_inside(root, out, "DATASET_DIR", "output folder")
    chunk_frames = info.total_frames if chunk_seconds == 0 else max(1, math.floor(chunk_seconds * info.fps))
    bar = progress_bar(
        info.total_episodes,
        "exporting to the NitroGen layout",
        unit="episode",
        enabled=sys.stderr.isatty() if progress is None else progress,
    )
    chunks = 0
    try:
        for episode in info.episodes:
            data_rel, video_rel = episode_paths(episode.episode_index, info.chunk_size)
            table = pq.read_table(root / data_rel, columns=list(ACTION_COLUMNS))
            actions = np.stack([table.column(name).to_numpy() for name in ACTION_COLUMNS], axis=1).astype(np.float32)
            vid = video_id(root, episode.episode_index)
            folder = out / "actions" / f"SHARD_{episode.episode_index // VIDEOS_PER_SHARD:04d}" / vid
            step = chunk_frames or len(actions)
            for number, first in enumerate(range(0, len(actions), step)):
                rows = actions[first : first + step]
                chunk_dir = folder / f"{vid}_chunk_{number:04d}"
                chunk_dir.mkdir(parents=True, exist_ok=True)
                tmp = chunk_dir / (ACTIONS_FILE + TMP_SUFFIX)
                pq.write_table(official_table(rows), tmp)
                os.replace(tmp, chunk_dir / ACTIONS_FILE)
                meta = _metadata(
                    vid, number, first, len(rows), info.fps, (info.frame_height, info.frame_width), episode.game
                )
                _write_json(chunk_dir / METADATA_FILE, meta)
                chunks += 1
            _copy(root / video_rel, out / "videos" / f"{vid}.mp4")
            bar.update(1)
    finally:
        bar.close()
    logger.info("exported %d episodes (%d chunks) of %s to %s", info.total_episodes, chunks, root, out)
    return ExportStats(info.total_episodes, chunks, info.total_frames)


def _metadata(
    vid: str, number: int, first: int, rows: int, fps: int, resolution: tuple[int, int], game: str
) -> dict[str, object]:
    start, end = first / fps, (first + rows) / fps
    return {
        "uuid": f"{vid}_chunk_{number:04d}_actions",
        "chunk_id": f"{number:04d}",
        "chunk_size": rows,
        "original_video": {
            "video_id": vid,
            "source": SOURCE_NAME,
            "url": f"videos/{vid}.mp4",
            "resolution": list(resolution),
            "start_time": start,
            "end_time": end,
            "duration": end - start,
            "start_frame": first,
            "end_frame": first + rows,
        },
        "game": game,
        "controller_type": "xboxone",
        "bbox_controller_overlay": [0, 0, 0, 0],  # an empty box: nothing to mask
        "bbox_game_area": {"xtl": 0.0, "ytl": 0.0, "xbr": 1.0, "ybr": 1.0},
    }


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + TMP_SUFFIX)
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
