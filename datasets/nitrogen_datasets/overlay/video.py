"""Composite an overlay onto a whole gameplay clip and write lossy H.264, plus the style's layout files.

:func:`render_overlay_video` draws any frames and actions; :func:`render_episode` draws one recorded episode
of a demonstrations dataset (``nitrogen overlay render``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.overlay.layout import save_layout
from nitrogen_datasets.overlay.render import OverlayRenderer, Placement, fit_style, letterbox, parse_resolution
from nitrogen_datasets.overlay.styles import AnyStyle, preset_style, random_style

logger = logging.getLogger(__name__)

T = TypeVar("T")
STREAM_CRF = 28
"""x264 quality of rendered clips: 28 sits in the 23-35 range streaming platforms' compression shows."""


class EpisodeOutOfRange(DatasetError, IndexError):
    """An episode position past the dataset's last episode; the message gives the valid range."""


@dataclass(frozen=True)
class EpisodeRenderConfig:
    """How :func:`render_episode` draws one recorded episode (the options of ``nitrogen overlay render``).

    Args:
        episode: position of the episode in the dataset.
        style: name of a preset style (``nitrogen overlay styles``); ``None`` samples a random style from ``seed``.
        seed: seed of the random style when ``style`` is ``None`` (``None``: 0).
        scale: overrides the style's scale.
        resolution: ``"WxH"``: the gameplay is scaled to this output size first, aspect kept with black bars.
        fit: scale an overlay larger than the frame down to fit; ``False`` refuses it (``OverlayDoesNotFit``).
        crf: x264 quality of the clip.
    """

    episode: int = 0
    style: str | None = None
    seed: int | None = None
    scale: float | None = None
    resolution: str | None = None
    fit: bool = True
    crf: int = STREAM_CRF


@dataclass
class EpisodeRender:
    """What :func:`render_episode` wrote, with the style as chosen and as drawn (scaled down to fit, if needed)."""

    result: RenderResult
    style: AnyStyle
    drawn: AnyStyle
    frame_size: tuple[int, int]
    """(height, width) of the clip's frames."""


@dataclass
class RenderResult:
    """What was written."""

    video: Path
    layout: Path
    frames: int
    placement: Placement


def render_overlay_video(
    frames: Iterable[np.ndarray],
    actions: np.ndarray,
    style: AnyStyle,
    out: str | os.PathLike[str],
    fps: int = 30,
    crf: int = STREAM_CRF,
) -> RenderResult:
    """Draw ``actions[t]`` onto ``frames[t]`` and encode the clip.

    Args:
        frames: RGB uint8 frames (any iterable, streamed: the clip is never held in memory).
        actions: (N, 21) flat gamepad actions, one per frame.
        style: overlay look, size and place.
        out: output ``.mp4``; the layout goes to ``<out stem>.layout.json`` with its template PNG beside it.
        fps: frame rate of the output.
        crf: x264 quality (23-35 mimics streaming compression).

    Raises:
        ValueError: fewer actions than frames, or a malformed action (the message names the field).
    """
    from nitrogen_envs.video import VideoWriter

    out = Path(out)
    renderer = OverlayRenderer(style)
    actions = np.asarray(actions, dtype=np.float32)
    placement = None
    count = 0
    with VideoWriter(out, fps=fps, crf=crf) as writer:
        for index, frame in enumerate(frames):
            if index >= len(actions):
                raise ValueError(f"got more frames than actions ({len(actions)}); give one action per frame")
            placement = placement or renderer.placement((frame.shape[0], frame.shape[1]))
            writer.write(renderer.composite(frame, actions[index], placement))
            count += 1
    layout_path = out.with_name(f"{out.stem}.layout.json")
    layout = renderer.layout(template_file=f"{out.stem}.rest.png")
    save_layout(layout, renderer.template(), layout_path)
    logger.info("rendered %d frames with style %s into %s", count, style.name, out)
    return RenderResult(out, layout_path, count, placement or Placement(0, 0, style.scale))


def render_episode(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: EpisodeRenderConfig | None = None,
    progress: bool = False,
) -> EpisodeRender:
    """Composite an overlay of the recorded actions onto one recorded episode of the dataset ``data``.

    An overlay larger than the frame is scaled down to fit (:func:`~.render.fit_style`); the result says so
    (``drawn.scale != style.scale``). ``progress`` shows a bar of frames on stderr.

    Raises:
        UnknownStyle: ``config.style`` names no preset.
        InvalidResolution: ``config.resolution`` is not an even ``WxH`` within the limits.
        OutputOverwritesInput: ``out`` is inside the dataset (the clip, its layout and template would land on
            episode files).
        EpisodeOutOfRange: the dataset has no episode at ``config.episode``.
        OverlayDoesNotFit: the overlay is larger than the frame and ``config.fit`` is off.
    """
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_datasets.safe_inputs import refuse_inside
    from nitrogen_envs.progress import progress_bar

    config = config or EpisodeRenderConfig()
    style = preset_style(config.style) if config.style is not None else random_style(config.seed or 0)
    if config.scale is not None:
        style = replace(style, scale=config.scale)
    size = parse_resolution(config.resolution) if config.resolution is not None else None
    refuse_inside(out, data, "--out", "dataset")
    dataset = DemoDataset(data)
    count = len(dataset.episodes)
    if not 0 <= config.episode < count:
        raise EpisodeOutOfRange(f"--episode {config.episode}: {data} has {count} episodes; use 0 to {count - 1}")
    frame_size = (size[1], size[0]) if size else (dataset.info.frame_height, dataset.info.frame_width)
    drawn = fit_style(style, frame_size, fit=config.fit)
    table = dataset.read_episode_table(config.episode)
    actions = np.stack([table.column(name).to_numpy() for name in dataset.info.action_names], axis=1)
    frames: Iterable[np.ndarray] = dataset.iter_episode_frames(config.episode)
    if size is not None:
        frames = (letterbox(frame, size) for frame in frames)
    with progress_bar(len(actions), f"rendering {drawn.name}", unit="frame", enabled=progress) as bar:
        result = render_overlay_video(_counted(frames, bar), actions, drawn, out, fps=dataset.info.fps, crf=config.crf)
    return EpisodeRender(result, style, drawn, frame_size)


def _counted(items: Iterable[T], bar: Any) -> Iterator[T]:
    """``items`` unchanged, advancing a progress ``bar`` by one as each is taken."""
    for item in items:
        yield item
        bar.update(1)
