"""``nitrogen overlay ...``: render input overlays onto recorded gameplay; list the styles.

Usage::

    nitrogen overlay styles
    nitrogen overlay render --data demos/coinrun --episode 0 --style xbox-color-00 --crf 28 --out clip.mp4
    nitrogen overlay render --data demos/coinrun --episode 3 --seed 7 --out clip.mp4   # a random style
    nitrogen overlay extract clip.mp4 --layout clip.layout.json --out actions.parquet --masked-video masked.mp4
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from nitrogen_envs.errors import NitroGenError


@click.group()
def overlay() -> None:
    """Input-overlay pipeline: render overlays onto gameplay, extract actions from overlay videos."""


@overlay.command()
def styles() -> None:
    """List the named overlay styles."""
    from nitrogen_datasets.overlay.styles import preset_styles

    for style in preset_styles():
        click.echo(f"{style.name:<26} family={style.family:<12} effect={style.press_effect:<9} "
                   f"opacity={style.opacity:.2f} scale={style.scale:.2f}")  # fmt: skip


@overlay.command()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Demonstrations dataset.",
)
@click.option(
    "--episode", default=0, show_default=True, type=click.IntRange(min=0), help="Episode position in the dataset."
)
@click.option("--style", "style_name", default=None, help="Named style (see `nitrogen overlay styles`).")
@click.option("--seed", default=None, type=int, help="Sample a random style from this seed instead.")
@click.option("--scale", default=None, type=click.FloatRange(0.5, 2.0), help="Override the style's scale.")
@click.option(
    "--crf", default=28, show_default=True, type=click.IntRange(0, 51), help="x264 quality (23-35 ~ streams)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output .mp4 (layout written beside it).",
)
def render(
    data: Path, episode: int, style_name: str | None, seed: int | None, scale: float | None, crf: int, out: Path
) -> None:
    """Composite an overlay of the recorded actions onto one recorded episode."""
    import numpy as np

    from nitrogen_datasets.overlay.styles import preset_styles, random_style
    from nitrogen_datasets.overlay.video import render_overlay_video
    from nitrogen_datasets.reader import DemoDataset

    presets = {style.name: style for style in preset_styles()}
    if style_name is not None and style_name not in presets:
        raise click.BadParameter(f"unknown style {style_name!r}; run `nitrogen overlay styles`", param_hint="--style")
    style = presets[style_name] if style_name else random_style(seed if seed is not None else 0)
    if scale is not None:
        style = replace(style, scale=scale)
    try:
        dataset = DemoDataset(data)
        if episode >= len(dataset.episodes):
            raise click.BadParameter(f"the dataset has {len(dataset.episodes)} episodes", param_hint="--episode")
        table = dataset.read_episode_table(episode)
        actions = np.stack([table.column(name).to_numpy() for name in dataset.info.action_names], axis=1)
        result = render_overlay_video(
            dataset.iter_episode_frames(episode), actions, style, out, fps=dataset.info.fps, crf=crf
        )
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"{result.frames} frames with style {style.name} -> {result.video} (layout: {result.layout})")


@overlay.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--layout",
    "layout_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Overlay layout JSON.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Actions parquet to write.")
@click.option(
    "--masked-video",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the video with the overlay blacked out.",
)
def extract(video: Path, layout_path: Path, out: Path, masked_video: Path | None) -> None:
    """Read per-frame gamepad actions off the input overlay in VIDEO."""
    from nitrogen_datasets.overlay.extract import extract as run_extract

    try:
        result = run_extract(video, layout_path, out, masked_video=masked_video)
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    where = result.localization
    click.echo(
        f"{result.frames} frames; overlay at ({where.x}, {where.y}) scale {where.scale:.2f} (match {where.score:.2f}); "
        f"kept {100 * result.kept_fraction:.1f}% -> {result.actions}"
    )
