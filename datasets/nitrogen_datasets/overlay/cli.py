"""``nitrogen overlay ...``: render input overlays onto recorded gameplay; list the styles.

Usage::

    nitrogen overlay styles
    nitrogen overlay render --data demos/coinrun --episode 0 --style xbox-color-00 --crf 28 --out clip.mp4
    nitrogen overlay render --data demos/coinrun --episode 3 --seed 7 --out clip.mp4   # a random style
    nitrogen overlay render --data demos/coinrun --style keycaps-fill-11 --resolution 1280x720 --out clip.mp4
    nitrogen overlay extract clip.mp4 --layout clip.layout.json --out actions.parquet --masked-video masked.mp4
    nitrogen overlay extract faint.mp4 --layout pad.layout.json --out actions.parquet --at 960,620,0.75  # no search
    nitrogen overlay train-parser --out runs/parser            # synthetic renders -> parser.safetensors
    nitrogen overlay train-parser --out runs/sprites --sprite-fraction 0.5   # half in trained-on sprite styles
    nitrogen overlay eval --markdown                            # accuracy on held-out styles x CRF x scale
    nitrogen overlay eval --style held-out-sprites              # the sprite styles training never draws
    nitrogen overlay build-corpus VIDEOS_DIR --layout L.json --out demos/corpus --workers 2
    nitrogen overlay import-preset pad.json --texture pad.png --out pad.layout.json   # an OBS input-overlay preset
    nitrogen overlay make-layout --screenshot rest.png --boxes boxes.json --out my.layout.json

Each command parses its options into the library's config dataclass, whose fields hold the defaults
(:func:`.cli_defaults.config_default`), and calls one library function. A user's mistake raises one of the package's typed
errors, which the root ``nitrogen`` command prints as one line; any other exception keeps its traceback.
The parser's commands (``train-parser``, ``eval``) live in :mod:`.cli_parser`, the layout importers in
:mod:`.cli_layouts`; this module gathers them into the ``overlay`` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from nitrogen_datasets.overlay.cli_defaults import config_default
from nitrogen_datasets.overlay.cli_layouts import import_preset_command, make_layout_command
from nitrogen_datasets.overlay.cli_parser import eval_command, train_parser_command
from nitrogen_datasets.overlay.corpus import CorpusConfig, build_corpus
from nitrogen_datasets.overlay.evaluate import STYLE_SETS
from nitrogen_datasets.overlay.extract import PARSERS, STICK_READERS, ExtractConfig
from nitrogen_datasets.overlay.video import EpisodeRenderConfig
from nitrogen_envs.video import X264_PRESETS


def _placement(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int, float] | None:
    """``X,Y,SCALE`` -> ``(x, y, scale)`` (:attr:`ExtractConfig.placement`)."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        return int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        raise click.BadParameter(f"{value!r}: give X,Y,SCALE, e.g. 960,620,0.75") from None


at_option = click.option(
    "--at",
    "placement",
    metavar="X,Y,SCALE",
    callback=_placement,
    help="Where the overlay is, instead of searching for it: its top-left pixel in the video and its size over "
    "the layout template's (as the streaming software placed it). For an overlay too faint to be found.",
)

search_option = click.option(
    "--search-seconds",
    type=click.FloatRange(min=0),
    default=config_default(ExtractConfig, "search_seconds"),
    show_default=True,
    help="Where the first frames do not show the overlay, search for its static edges again over frames spread "
    "across this many seconds from the start (a faint overlay stands out once the scene has changed; 0: no farther).",
)


@click.group()
def overlay() -> None:
    """Input-overlay pipeline: render overlays onto gameplay, extract actions from overlay videos."""


@overlay.command()
def styles() -> None:
    """List the named overlay styles: the parametric presets, then the sprite styles (held-out ones marked).

    Sprite styles are sprite-<family>-<n> for any n; the list shows n = 0-7 of every family, which cover every
    drawing treatment. `eval --style` also takes the sets presets, sprites and held-out-sprites.
    """
    from nitrogen_datasets.overlay.evaluate import held_out_axes
    from nitrogen_datasets.overlay.sprite_styles import named_sprite_styles
    from nitrogen_datasets.overlay.styles import preset_styles

    for style in preset_styles():
        click.echo(f"{style.name:<26} family={style.family:<12} effect={style.press_effect:<9} "
                   f"opacity={style.opacity:.2f} scale={style.scale:.2f}")  # fmt: skip
    for sprite in named_sprite_styles():
        held_out = "+".join(held_out_axes(sprite))
        line = (f"{sprite.name:<26} family={sprite.family:<12} effect={sprite.press_effect:<9} "
                f"opacity={sprite.opacity:.2f} scale={sprite.scale:.2f} treatment={sprite.treatment:<8} "
                + (f"held out ({held_out})" if held_out else ""))  # fmt: skip
        click.echo(line.rstrip())
    click.echo(f"sets for `nitrogen overlay eval --style`: {', '.join(STYLE_SETS)}")


@overlay.command()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Demonstrations dataset.",
)
@click.option(
    "--episode",
    default=config_default(EpisodeRenderConfig, "episode"),
    show_default=True,
    type=click.IntRange(min=0),
    help="Episode position in the dataset.",
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
    default=config_default(EpisodeRenderConfig, "fit"),
    show_default=True,
    help="Scale an overlay larger than the frame down to fit (--no-fit: refuse instead).",
)
@click.option(
    "--crf",
    default=config_default(EpisodeRenderConfig, "crf"),
    show_default=True,
    type=click.IntRange(0, 51),
    help="x264 quality (23-35 ~ streams).",
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
    from nitrogen_datasets.overlay.render import STREAM_RESOLUTION
    from nitrogen_datasets.overlay.video import render_episode

    config = EpisodeRenderConfig(
        episode=episode, style=style_name, seed=seed, scale=scale, resolution=resolution, fit=fit, crf=crf
    )
    rendered = render_episode(data, out, config, progress=not quiet)
    style, drawn, (height, width) = rendered.style, rendered.drawn, rendered.frame_size
    if drawn.scale != style.scale:
        click.echo(
            f"note: style {style.name} at scale {style.scale:.2f} does not fit the {width}x{height} "
            f"frame; drawn at scale {drawn.scale:.2f} (--resolution {'x'.join(map(str, STREAM_RESOLUTION))} "
            "keeps its size, --no-fit refuses)",
            err=True,
        )
    click.echo(
        f"{rendered.result.frames} frames with style {style.name} at scale {drawn.scale:.2f} -> "
        f"{rendered.result.video} (layout: {rendered.result.layout})"
    )


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
    type=click.Choice(PARSERS),
    default=config_default(ExtractConfig, "method"),
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
    default=config_default(ExtractConfig, "calibrate_presses"),
    show_default=True,
    help="Learned parser: threshold each button per clip where its readings form two clear clusters "
    "(else at probability 0.5).",
)
@click.option(
    "--sticks",
    type=click.Choice(STICK_READERS),
    default=config_default(ExtractConfig, "sticks"),
    show_default=True,
    help="knob: find the layout's own knob sprite in each stick's sweep box; parser: the parser's stick reading.",
)
@at_option
@search_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def extract(
    video: Path,
    layout_path: Path,
    out: Path,
    masked_video: Path | None,
    method: str,
    parser_weights: Path | None,
    clip_thresholds: bool,
    sticks: str,
    placement: tuple[int, int, float] | None,
    search_seconds: float,
    quiet: bool,
) -> None:
    """Read per-frame gamepad actions off the input overlay in VIDEO."""
    from nitrogen_datasets.overlay.extract import extract as run_extract

    config = ExtractConfig(
        method=method,
        parser_weights=str(parser_weights) if parser_weights else None,
        calibrate_presses=clip_thresholds,
        sticks=sticks,
        placement=placement,
        search_seconds=search_seconds,
    )
    result = run_extract(video, layout_path, out, masked_video=masked_video, config=config, progress=not quiet)
    where = result.localization
    click.echo(
        f"{result.frames} frames; overlay at ({where.x}, {where.y}) scale {where.scale:.2f} (match {where.score:.2f}); "
        f"kept {100 * result.kept_fraction:.1f}% -> {result.actions}"
    )


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
@click.option(
    "--game",
    default=config_default(CorpusConfig, "game"),
    show_default=True,
    help="Game name stored with the episodes.",
)
@click.option(
    "--fps",
    default=config_default(CorpusConfig, "fps"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Dataset frame rate.",
)
@click.option(
    "--obs-size",
    default=config_default(CorpusConfig, "obs_size"),
    show_default=True,
    type=click.IntRange(min=8),
    help="Square frame size.",
)
@click.option(
    "--preset",
    type=click.Choice(X264_PRESETS),
    default=config_default(CorpusConfig, "preset"),
    show_default=True,
    help="x264 speed preset of the dataset videos (slower: smaller files at the same quality).",
)
@click.option(
    "--workers",
    default=config_default(build_corpus, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Parallel processes.",
)
@click.option("--ray", "use_ray", is_flag=True, help="Run videos as Ray tasks (pip install 'nitrogen-gym[scale]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--retry-failed", is_flag=True, help="Try videos that failed in an earlier run again.")
@click.option(
    "--parser", "method", type=click.Choice(PARSERS), default=config_default(CorpusConfig, "method"), show_default=True
)
@click.option(
    "--masked-videos",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each video's masked mp4 (full size) into this folder, from the same decode.",
)
@at_option
@search_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def build_corpus_command(
    videos: Path,
    layout_path: Path,
    out: Path,
    game: str,
    fps: int,
    obs_size: int,
    preset: str,
    workers: int,
    use_ray: bool,
    ray_address: str | None,
    retry_failed: bool,
    method: str,
    masked_videos: Path | None,
    placement: tuple[int, int, float] | None,
    search_seconds: float,
    quiet: bool,
) -> None:
    """Extract every overlay video under VIDEOS into one demonstrations dataset (masked frames + actions).

    Resumable: videos already listed in OUT/meta/corpus.json are skipped. A corrupt video or one without
    the overlay is skipped with its reason logged and counted; the batch never stops for it. A folder
    without videos is an error.
    """
    config = CorpusConfig(
        layout=str(layout_path),
        game=game,
        fps=fps,
        obs_size=obs_size,
        preset=preset,
        method=method,
        masked_videos=str(masked_videos) if masked_videos else None,
        placement=placement,
        search_seconds=search_seconds,
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
    click.echo(
        f"{stats.processed} videos processed in {stats.seconds:.0f} s: {stats.episodes} episodes added, "
        f"{stats.empty} with nothing kept, {stats.failed} failed, {stats.skipped} already done -> {out}"
    )
    for key, reason in stats.failures.items():
        click.echo(f"  failed: {key}: {reason}")


overlay.add_command(train_parser_command)
overlay.add_command(eval_command)
overlay.add_command(import_preset_command)
overlay.add_command(make_layout_command)
