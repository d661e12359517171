"""The frames of one released chunk, from the user's own copy of its video: placed, masked, cropped and resampled.

The release ships no pixels, so each chunk is paired with a local video file by its ``video_id``
(:class:`VideoIndex`). The chunk's time range is decoded with PyAV, each output tick ``k`` (time
``start + k / fps``) shows the last source frame at or before it, the controller overlay box is blacked out
in source-frame coordinates (so an overlay that reaches outside the game area is masked where the two
overlap), the game area is cropped, and the result is resized to the dataset's square frame.

The boxes are measured at the resolution ``metadata.json`` names; a local copy downloaded at another size
is scaled to it, and one of another aspect ratio (another edit of the video) is refused rather than masked
in the wrong place.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nitrogen_datasets.official.schema import ChunkMetadata
from nitrogen_datasets.overlay.corpus import VIDEO_SUFFIXES
from nitrogen_datasets.safe_inputs import InvalidInputFile, open_video

ASPECT_TOLERANCE = 0.02
"""Relative aspect-ratio difference between the local video and the metadata's resolution still accepted."""
TIME_EPS_S = 1e-3
"""Slack when comparing frame times with tick times (timestamps are rounded to the stream's time base)."""


class ChunkSkipped(Exception):
    """This chunk cannot be imported from the local files (missing, unreadable or mismatched video): the reason."""


class VideoIndex:
    """Local video files by ``video_id``: ``<id>.mp4`` or yt-dlp's ``Title [<id>].mp4``, anywhere under a folder.

    The folder is listed once (symlinked folders are not followed), so pairing thousands of chunks costs one walk.

    Args:
        folder: where the user keeps the downloaded videos.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._by_id: dict[str, list[Path]] = {}
        for dirpath, _, names in os.walk(self.folder):
            for name in sorted(names):
                path = Path(dirpath) / name
                if path.suffix.lower() not in VIDEO_SUFFIXES:
                    continue
                stem = path.stem
                keys = {stem}
                if stem.endswith("]") and "[" in stem:
                    keys.add(stem[stem.rindex("[") + 1 : -1])
                for key in keys:
                    self._by_id.setdefault(key, []).append(path)

    def __len__(self) -> int:
        return sum(len(paths) for paths in self._by_id.values())

    def find(self, video_id: str) -> Path:
        """The one local file of ``video_id``.

        Raises:
            ChunkSkipped: no file, or several files, carry that id.
        """
        paths = sorted(set(self._by_id.get(video_id, [])))
        if not paths:
            raise ChunkSkipped(
                f"no local video for {video_id!r} under {self.folder} (looked for {video_id}.<ext> or "
                f"'... [{video_id}].<ext>' with ext in {' '.join(VIDEO_SUFFIXES)})"
            )
        if len(paths) > 1:
            raise ChunkSkipped(f"several local videos match {video_id!r}: {', '.join(map(str, paths[:3]))}; keep one")
        return paths[0]


@dataclass(frozen=True)
class Geometry:
    """Where to mask and crop, in pixels of the decoded frame (half-open ``[x0, x1) x [y0, y1)`` boxes).

    Args:
        mask: the overlay box clipped to the frame, or ``None``.
        crop: the game area clipped to the frame (the whole frame without one).
    """

    mask: tuple[int, int, int, int] | None
    crop: tuple[int, int, int, int]


def geometry(meta: ChunkMetadata, height: int, width: int) -> Geometry:
    """Scale the metadata's boxes to a decoded frame of ``height`` x ``width``.

    Raises:
        ChunkSkipped: the frame's aspect ratio differs from the metadata's resolution, or the game area is empty.
    """
    meta_height, meta_width = meta.resolution
    expected, found = meta_width / meta_height, width / height
    if abs(found - expected) > ASPECT_TOLERANCE * expected:
        raise ChunkSkipped(
            f"the local video is {width}x{height} but the chunk was annotated on {meta_width}x{meta_height} "
            "(another aspect ratio: a different edit of the video?); its boxes would not line up"
        )
    sx, sy = width / meta_width, height / meta_height
    mask = None
    if meta.overlay_box is not None:
        x, y, w, h = meta.overlay_box
        mask = _clip((x * sx, y * sy, (x + w) * sx, (y + h) * sy), height, width)
    area = meta.game_area or (0.0, 0.0, 1.0, 1.0)
    crop = _clip((area[0] * width, area[1] * height, area[2] * width, area[3] * height), height, width)
    if crop is None:
        raise ChunkSkipped(f"bbox_game_area {list(area)} covers no pixel of a {width}x{height} frame")
    return Geometry(mask, crop)


def _clip(box: tuple[float, float, float, float], height: int, width: int) -> tuple[int, int, int, int] | None:
    # Scaling leaves float noise (5/6 * 48 = 40.000000000000004): snap to the pixel grid before rounding outward.
    x0, y0 = max(0, math.floor(box[0] + 1e-6)), max(0, math.floor(box[1] + 1e-6))
    x1, y1 = min(width, math.ceil(box[2] - 1e-6)), min(height, math.ceil(box[3] - 1e-6))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def apply_geometry(frame: np.ndarray, geo: Geometry, size: int) -> np.ndarray:
    """Black out the overlay, crop the game area and resize to ``size`` x ``size`` (a new uint8 array)."""
    if geo.mask is not None:
        x0, y0, x1, y1 = geo.mask
        frame = frame.copy()
        frame[y0:y1, x0:x1] = 0
    x0, y0, x1, y1 = geo.crop
    crop = frame[y0:y1, x0:x1]
    if crop.shape[:2] == (size, size):
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def chunk_range(meta: ChunkMetadata, video_fps: float) -> tuple[float, float]:
    """(start, end) seconds of the chunk in its video: the times, else the frame numbers at ``video_fps``.

    Raises:
        ChunkSkipped: only frame numbers are given and the local video has no usable frame rate.
    """
    if meta.start_time is not None and meta.end_time is not None:
        return meta.start_time, meta.end_time
    if not video_fps > 0:
        raise ChunkSkipped("the chunk gives only frame numbers and the local video has no frame rate to place them")
    assert meta.start_frame is not None and meta.end_frame is not None  # read_metadata guarantees one pair
    return meta.start_frame / video_fps, meta.end_frame / video_fps


def _frame_time(frame: Any, stream: Any, origin: int) -> float:
    return float((frame.pts - origin) * stream.time_base)


def chunk_frames(path: Path, meta: ChunkMetadata, fps: int, size: int) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(position, frame)`` for every output tick of the chunk, masked, cropped and resized.

    ``position`` in [0, 1) is how far into the chunk's time range the tick is, so the caller picks the action
    row in effect there without knowing how the range was given (times, or frame numbers at the video's rate).

    Raises:
        ChunkSkipped: the video cannot be opened or decoded, mismatches the metadata, or ends before the chunk does.
    """
    import av

    try:
        with open_video(path, what="video") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            start, end = chunk_range(meta, float(rate) if rate else 0.0)
            context = stream.codec_context
            geo = geometry(meta, int(context.height), int(context.width))
            ticks = max(1, math.floor((end - start) * fps + 1e-6))
            origin = int(stream.start_time or 0)
            if start > 0:
                container.seek(int(start / stream.time_base) + origin, stream=stream, backward=True, any_frame=False)
            for seconds, image in _resample(container.decode(stream), stream, origin, start, ticks, fps, geo, size):
                yield seconds / (end - start), image
    except av.error.FFmpegError as err:
        raise ChunkSkipped(f"{path} cannot be decoded ({getattr(err, 'strerror', None) or err})") from err
    except (InvalidInputFile, OSError) as err:  # not a video, no video stream, frames too large, unreadable
        raise ChunkSkipped(str(err)) from err


def _resample(
    frames: Iterator[Any], stream: Any, origin: int, start: float, ticks: int, fps: int, geo: Geometry, size: int
) -> Iterator[tuple[float, np.ndarray]]:
    """Hold the last frame at or before each tick (nearest earlier frame), converting each used frame once."""
    tick = 0
    held: Any = None
    held_image: np.ndarray | None = None
    last_time = -math.inf
    for frame in frames:
        if frame.pts is None:
            continue
        t = _frame_time(frame, stream, origin)
        while tick < ticks and t > start + tick / fps + TIME_EPS_S:
            if held is None:  # the first decoded frame is already past the tick: it is the nearest one
                break
            if held_image is None:
                held_image = apply_geometry(held.to_ndarray(format="rgb24"), geo, size)
            yield tick / fps, held_image
            tick += 1
        if tick >= ticks:
            return
        held, held_image, last_time = frame, None, t
    # The video ended: the held frame covers ticks up to one source-frame duration after it.
    duration = float(1 / stream.average_rate) if stream.average_rate else 1 / fps
    while tick < ticks and held is not None and start + tick / fps <= last_time + duration + TIME_EPS_S:
        if held_image is None:
            held_image = apply_geometry(held.to_ndarray(format="rgb24"), geo, size)
        yield tick / fps, held_image
        tick += 1
    if tick < ticks:
        covered = f"ends at {last_time:.2f} s" if held is not None else "has no frame there"
        raise ChunkSkipped(
            f"the local video {covered}, but the chunk runs from {start:.2f} s to {start + ticks / fps:.2f} s "
            "(a shorter copy of the video?)"
        )
