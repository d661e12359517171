"""``nitrogen overlay ...``: render input overlays onto recorded gameplay; list the styles.

Usage::

    nitrogen overlay styles
    nitrogen overlay render --data demos/coinrun --episode 0 --style xbox-color-00 --crf 28 --out clip.mp4
    nitrogen overlay render --data demos/coinrun --episode 3 --seed 7 --out clip.mp4   # a random style
    nitrogen overlay render --data demos/coinrun --style keycaps-fill-11 --resolution 1280x720 --out clip.mp4
    nitrogen overlay extract clip.mp4 --layout clip.layout.json --out actions.parquet --masked-video masked.mp4
    nitrogen overlay train-parser --out runs/parser            # synthetic renders -> parser.safetensors
    nitrogen overlay eval --markdown                            # accuracy on held-out styles x CRF x scale
    nitrogen overlay build-corpus VIDEOS_DIR --layout L.json --out demos/corpus --workers 2
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from nitrogen_envs.errors import NitroGenError
from nitrogen_envs.registry import UNKNOWN_GAME

T = TypeVar("T")


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
    "--resolution",
    default=None,
    metavar="WxH",
    help="Scale the gameplay to this output size first (e.g. 1280x720), aspect kept with black bars.",
)
@click.option(
    "--fit/--no-fit",
    default=True,
    show_default=True,
    help="Scale an overlay larger than the frame down to fit (--no-fit: refuse instead).",
)
@click.option(
    "--crf", default=28, show_default=True, type=click.IntRange(0, 51), help="x264 quality (23-35 ~ streams)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output .mp4 (layout written beside it).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def render(
    data: Path,
    episode: int,
    style_name: str | None,
    seed: int | None,
    scale: float | None,
    resolution: str | None,
    fit: bool,
    crf: int,
    out: Path,
    quiet: bool,
) -> None:
    """Composite an overlay of the recorded actions onto one recorded episode.

    An overlay larger than the frame (or --resolution) is scaled down to fit, with a note on stderr; an
    overlay drawn past the frame's edge could not be found by `extract`.
    """
    import numpy as np

    from nitrogen_datasets.overlay.render import STREAM_RESOLUTION, fit_style, letterbox, parse_resolution
    from nitrogen_datasets.overlay.styles import preset_styles, random_style
    from nitrogen_datasets.overlay.video import render_overlay_video
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_datasets.safe_inputs import refuse_inside
    from nitrogen_envs.progress import progress_bar

    presets = {style.name: style for style in preset_styles()}
    if style_name is not None and style_name not in presets:
        raise click.ClickException(f"unknown --style {style_name!r}; run `nitrogen overlay styles` for the names")
    style = presets[style_name] if style_name else random_style(seed if seed is not None else 0)
    if scale is not None:
        style = replace(style, scale=scale)
    try:
        size = parse_resolution(resolution) if resolution is not None else None
        refuse_inside(out, data, "--out", "dataset")  # the clip, its layout and template must not land on episode files
        dataset = DemoDataset(data)
        if episode >= len(dataset.episodes):
            count = len(dataset.episodes)
            raise click.ClickException(f"--episode {episode}: {data} has {count} episodes; use 0 to {count - 1}")
        frame_size = (size[1], size[0]) if size else (dataset.info.frame_height, dataset.info.frame_width)
        fitted = fit_style(style, frame_size, fit=fit)
        if fitted.scale != style.scale:
            click.echo(
                f"note: style {style.name} at scale {style.scale:.2f} does not fit the {frame_size[1]}x{frame_size[0]} "
                f"frame; drawn at scale {fitted.scale:.2f} (--resolution {'x'.join(map(str, STREAM_RESOLUTION))} "
                "keeps its size, --no-fit refuses)",
                err=True,
            )
        table = dataset.read_episode_table(episode)
        actions = np.stack([table.column(name).to_numpy() for name in dataset.info.action_names], axis=1)
        frames = dataset.iter_episode_frames(episode)
        if size is not None:
            frames = (letterbox(frame, size) for frame in frames)
        with progress_bar(len(actions), f"rendering {fitted.name}", unit="frame", enabled=not quiet) as bar:
            result = render_overlay_video(_counted(frames, bar), actions, fitted, out, fps=dataset.info.fps, crf=crf)
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"{result.frames} frames with style {style.name} at scale {fitted.scale:.2f} -> {result.video} "
        f"(layout: {result.layout})"
    )


def _counted(items: Iterator[T], bar: Any) -> Iterator[T]:
    """``items`` unchanged, advancing a progress ``bar`` by one as each is taken."""
    for item in items:
        yield item
        bar.update(1)


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
@click.option(
    "--parser",
    "method",
    type=click.Choice(["learned", "reference"]),
    default="learned",
    show_default=True,
    help="learned: the shipped CNN; reference: training-free thresholds.",
)
@click.option(
    "--parser-weights",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of a parser trained with `nitrogen overlay train-parser` (default: the shipped one).",
)
@click.option(
    "--clip-thresholds/--no-clip-thresholds",
    default=True,
    show_default=True,
    help="Learned parser: threshold each button per clip where its readings form two clear clusters "
    "(else at probability 0.5).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def extract(
    video: Path,
    layout_path: Path,
    out: Path,
    masked_video: Path | None,
    method: str,
    parser_weights: Path | None,
    clip_thresholds: bool,
    quiet: bool,
) -> None:
    """Read per-frame gamepad actions off the input overlay in VIDEO."""
    from nitrogen_datasets.overlay.extract import ExtractConfig
    from nitrogen_datasets.overlay.extract import extract as run_extract

    config = ExtractConfig(
        method=method,
        parser_weights=str(parser_weights) if parser_weights else None,
        calibrate_presses=clip_thresholds,
    )
    try:
        result = run_extract(video, layout_path, out, masked_video=masked_video, config=config, progress=not quiet)
    except (NitroGenError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    where = result.localization
    click.echo(
        f"{result.frames} frames; overlay at ({where.x}, {where.y}) scale {where.scale:.2f} (match {where.score:.2f}); "
        f"kept {100 * result.kept_fraction:.1f}% -> {result.actions}"
    )


@overlay.command("train-parser")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--renders", default=10000, show_default=True, type=click.IntRange(min=1), help="Synthetic overlays.")
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=2e-3, show_default=True, type=float)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Rendering processes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True, help="Where the network trains: cpu, cuda, cuda:1.")
@click.option(
    "--button-margin",
    type=click.FloatRange(0.0, 0.5),
    help="Context around button and trigger crops, as a fraction of the box's larger side (default: 0.3).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_parser_command(
    out: Path,
    renders: int,
    epochs: int,
    batch_size: int,
    lr: float,
    workers: int,
    seed: int,
    device: str,
    button_margin: float | None,
    quiet: bool,
) -> None:
    """Train the learned parser on synthetic overlays only; TensorBoard logs in OUT/tb.

    The result (OUT/parser.safetensors + parser.json) is used with `extract --parser-weights OUT`;
    copy both files into nitrogen_datasets/overlay/weights/ to replace the shipped parser.
    """
    from nitrogen_datasets.overlay.parser_training import ParserTrainConfig, PoolTooLarge, train_parser

    try:
        config = ParserTrainConfig(
            renders=renders,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            workers=workers,
            seed=seed,
            device=device,
            **({} if button_margin is None else {"button_margin": button_margin}),
        )
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    try:
        result = train_parser(config, out, progress=not quiet)
    except PoolTooLarge as err:  # a pool the machine cannot hold, named with the fix; other errors keep their traceback
        raise click.ClickException(str(err)) from err
    click.echo(
        f"parser saved to {result.out} after {result.seconds:.0f} s on {result.samples} element samples; validation: "
        f"button {result.button_accuracy:.4f}, trigger {result.trigger_accuracy:.4f}, stick R2 {result.stick_r2:.4f}"
    )


@overlay.command("eval")
@click.option("--style", "styles", multiple=True, help="Preset style (repeat; default: all presets).")
@click.option("--crf", "crfs", multiple=True, type=click.IntRange(0, 51), help="x264 CRF (repeat) [23 28 35].")
@click.option("--scale", "scales", multiple=True, type=click.FloatRange(0.5, 2.0), help="Scale (repeat) [0.5 1 2].")
@click.option("--frames", default=48, show_default=True, type=click.IntRange(min=8), help="Frames per clip.")
@click.option("--parser", "method", type=click.Choice(["learned", "reference"]), default="learned", show_default=True)
@click.option("--parser-weights", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Clips in parallel.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--markdown", is_flag=True, help="Markdown tables (for the docs).")
@click.option(
    "--bound",
    is_flag=True,
    help="Also read every clip with an oracle that knows the game behind the overlay: shows how much of the "
    "button and trigger state the compressed video still holds (about doubles the time).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_command(
    styles: tuple[str, ...],
    crfs: tuple[int, ...],
    scales: tuple[float, ...],
    frames: int,
    method: str,
    parser_weights: Path | None,
    workers: int,
    seed: int,
    markdown: bool,
    bound: bool,
    quiet: bool,
) -> None:
    """Render clips of held-out styles at several CRFs and scales, extract them, print accuracy tables."""
    from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig, evaluate_overlays, format_evaluation

    config = OverlayEvalConfig(
        styles=styles,
        crfs=crfs or (23, 28, 35),
        scales=scales or (0.5, 1.0, 2.0),
        frames=frames,
        method=method,
        parser_weights=str(parser_weights) if parser_weights else None,
        seed=seed,
        workers=workers,
        bound=bound,
    )
    try:
        results = evaluate_overlays(config, progress=not quiet)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    click.echo(format_evaluation(results, markdown=markdown))


@overlay.command("build-corpus")
@click.argument("videos", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--layout",
    "layout_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Overlay layout JSON shared by the videos.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Dataset folder.")
@click.option("--game", default=UNKNOWN_GAME, show_default=True, help="Game name stored with the episodes.")
@click.option("--fps", default=15, show_default=True, type=click.IntRange(min=1), help="Dataset frame rate.")
@click.option("--obs-size", default=256, show_default=True, type=click.IntRange(min=8), help="Square frame size.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel processes.")
@click.option("--ray", "use_ray", is_flag=True, help="Run videos as Ray tasks (pip install 'nitrogen-gym[scale]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--retry-failed", is_flag=True, help="Try videos that failed in an earlier run again.")
@click.option("--parser", "method", type=click.Choice(["learned", "reference"]), default="learned", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def build_corpus_command(
    videos: Path,
    layout_path: Path,
    out: Path,
    game: str,
    fps: int,
    obs_size: int,
    workers: int,
    use_ray: bool,
    ray_address: str | None,
    retry_failed: bool,
    method: str,
    quiet: bool,
) -> None:
    """Extract every overlay video under VIDEOS into one demonstrations dataset (masked frames + actions).

    Resumable: videos already listed in OUT/meta/corpus.json are skipped. A corrupt video or one without
    the overlay is skipped with its reason logged and counted; the batch never stops for it. A folder
    without videos is an error.
    """
    from nitrogen_datasets.overlay.corpus import VIDEO_SUFFIXES, CorpusConfig, build_corpus, find_videos
    from nitrogen_datasets.safe_inputs import refuse_inside

    config = CorpusConfig(layout=str(layout_path), game=game, fps=fps, obs_size=obs_size, method=method)
    try:
        # The dataset's own mp4s must not become input videos, nor its files land on the user's videos.
        refuse_inside(out, videos, "--out", "VIDEOS folder")
        refuse_inside(videos, out, "VIDEOS", "--out dataset folder")
        if not find_videos(videos):
            raise click.ClickException(
                f"no videos found under {videos} (looked for {' '.join(sorted(VIDEO_SUFFIXES))} files, "
                "recursively); nothing to build"
            )
        stats = build_corpus(
            videos,
            out,
            config,
            workers=workers,
            ray=use_ray,
            ray_address=ray_address,
            retry_failed=retry_failed,
            progress=not quiet,
        )
    except (NitroGenError, ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"{stats.processed} videos processed in {stats.seconds:.0f} s: {stats.episodes} episodes added, "
        f"{stats.empty} with nothing kept, {stats.failed} failed, {stats.skipped} already done -> {out}"
    )
    for key, reason in stats.failures.items():
        click.echo(f"  failed: {key}: {reason}")
