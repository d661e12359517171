"""``nitrogen overlay ...``: render input overlays onto recorded gameplay; list the styles.

Usage::

    nitrogen overlay styles
    nitrogen overlay render --data demos/coinrun --episode 0 --style xbox-color-00 --crf 28 --out clip.mp4
    nitrogen overlay render --data demos/coinrun --episode 3 --seed 7 --out clip.mp4   # a random style
    nitrogen overlay render --data demos/coinrun --style keycaps-fill-11 --resolution 1280x720 --out clip.mp4
    nitrogen overlay extract clip.mp4 --layout clip.layout.json --out actions.parquet --masked-video masked.mp4
    nitrogen overlay train-parser --out runs/parser            # synthetic renders -> parser.safetensors
    nitrogen overlay train-parser --out runs/sprites --sprite-fraction 0.5   # half in trained-on sprite styles
    nitrogen overlay eval --markdown                            # accuracy on held-out styles x CRF x scale
    nitrogen overlay eval --style held-out-sprites              # the sprite styles training never draws
    nitrogen overlay build-corpus VIDEOS_DIR --layout L.json --out demos/corpus --workers 2
    nitrogen overlay import-preset pad.json --texture pad.png --out pad.layout.json   # an OBS input-overlay preset
    nitrogen overlay make-layout --screenshot rest.png --boxes boxes.json --out my.layout.json

Each command parses its options into the library's config dataclass, whose fields hold the defaults
(:func:`_default`), and calls one library function. A user's mistake raises one of the package's typed
errors, which the root ``nitrogen`` command prints as one line; any other exception keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from nitrogen_datasets.overlay.action_sequences import CLIP_KINDS
from nitrogen_datasets.overlay.cli_layouts import import_preset_command, make_layout_command
from nitrogen_datasets.overlay.corpus import CorpusConfig, build_corpus
from nitrogen_datasets.overlay.evaluate import STYLE_SETS, OverlayEvalConfig
from nitrogen_datasets.overlay.extract import PARSERS, STICK_READERS, ExtractConfig
from nitrogen_datasets.overlay.parser_config import ParserTrainConfig
from nitrogen_datasets.overlay.video import EpisodeRenderConfig


def _default(config: type[Any] | Callable[..., Any], name: str) -> Any:
    """The default of field ``name`` of the config dataclass ``config`` (or of parameter ``name`` of a function).

    Options read their defaults from the library, so each default is defined once, where a Python caller
    gets it too.
    """
    if dataclasses.is_dataclass(config):
        field = next(f for f in dataclasses.fields(config) if f.name == name)
        return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    return inspect.signature(config).parameters[name].default


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
    default=_default(EpisodeRenderConfig, "episode"),
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
    default=_default(EpisodeRenderConfig, "fit"),
    show_default=True,
    help="Scale an overlay larger than the frame down to fit (--no-fit: refuse instead).",
)
@click.option(
    "--crf",
    default=_default(EpisodeRenderConfig, "crf"),
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
    default=_default(ExtractConfig, "method"),
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
    default=_default(ExtractConfig, "calibrate_presses"),
    show_default=True,
    help="Learned parser: threshold each button per clip where its readings form two clear clusters "
    "(else at probability 0.5).",
)
@click.option(
    "--sticks",
    type=click.Choice(STICK_READERS),
    default=_default(ExtractConfig, "sticks"),
    show_default=True,
    help="knob: find the layout's own knob sprite in each stick's sweep box; parser: the parser's stick reading.",
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
    sticks: str,
    quiet: bool,
) -> None:
    """Read per-frame gamepad actions off the input overlay in VIDEO."""
    from nitrogen_datasets.overlay.extract import extract as run_extract

    config = ExtractConfig(
        method=method,
        parser_weights=str(parser_weights) if parser_weights else None,
        calibrate_presses=clip_thresholds,
        sticks=sticks,
    )
    result = run_extract(video, layout_path, out, masked_video=masked_video, config=config, progress=not quiet)
    where = result.localization
    click.echo(
        f"{result.frames} frames; overlay at ({where.x}, {where.y}) scale {where.scale:.2f} (match {where.score:.2f}); "
        f"kept {100 * result.kept_fraction:.1f}% -> {result.actions}"
    )


@overlay.command("train-parser")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option(
    "--renders",
    default=_default(ParserTrainConfig, "renders"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Synthetic overlays.",
)
@click.option("--epochs", default=_default(ParserTrainConfig, "epochs"), show_default=True, type=click.IntRange(min=1))
@click.option(
    "--batch-size", default=_default(ParserTrainConfig, "batch_size"), show_default=True, type=click.IntRange(min=1)
)
@click.option("--lr", default=_default(ParserTrainConfig, "lr"), show_default=True, type=float)
@click.option(
    "--workers",
    default=_default(ParserTrainConfig, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Rendering processes.",
)
@click.option("--seed", default=_default(ParserTrainConfig, "seed"), show_default=True, type=int)
@click.option(
    "--device",
    default=_default(ParserTrainConfig, "device"),
    show_default=True,
    help="Where the network trains: cpu, cuda, cuda:1.",
)
@click.option(
    "--button-margin",
    default=_default(ParserTrainConfig, "button_margin"),
    show_default=True,
    type=click.FloatRange(0.0, 0.5),
    help="Context around button and trigger crops, as a fraction of the box's larger side.",
)
@click.option(
    "--sprite-fraction",
    default=_default(ParserTrainConfig, "sprite_fraction"),
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of the renders drawn in sprite-sheet styles (only the families and treatments the sprite split "
    "trains on; held-out ones are never drawn). 0 keeps the shipped parser's training stream.",
)
@click.option(
    "--threads",
    default=_default(ParserTrainConfig, "threads"),
    type=click.IntRange(min=1),
    help="Torch CPU threads for training (default: torch's own count); the previous count is restored after.",
)
@click.option(
    "--init",
    default=_default(ParserTrainConfig, "init"),
    type=click.Path(exists=True, file_okay=False),
    help="Folder of a trained parser (parser.safetensors + parser.json) to start from; its network must be "
    "the one these options build. Default: a random initialization.",
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
    button_margin: float,
    sprite_fraction: float,
    threads: int | None,
    init: str | None,
    quiet: bool,
) -> None:
    """Train the learned parser on synthetic overlays only; TensorBoard logs in OUT/tb.

    The result (OUT/parser.safetensors + parser.json) is used with `extract --parser-weights OUT`;
    copy both files into nitrogen_datasets/overlay/weights/ to replace the shipped parser.
    """
    from nitrogen_datasets.overlay.parser_training import train_parser

    config = ParserTrainConfig(
        renders=renders,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        workers=workers,
        seed=seed,
        device=device,
        button_margin=button_margin,
        sprite_fraction=sprite_fraction,
        threads=threads,
        init=init,
    )
    result = train_parser(config, out, progress=not quiet)
    click.echo(
        f"parser saved to {result.out} after {result.seconds:.0f} s on {result.samples} element samples; validation: "
        f"button {result.button_accuracy:.4f}, trigger {result.trigger_accuracy:.4f}, stick R2 {result.stick_r2:.4f}"
    )


@overlay.command("eval")
@click.option(
    "--style",
    "styles",
    multiple=True,
    help=f"Style name or set (repeat; default: the presets): a preset, sprite-<family>-<n>, or a set: "
    f"{', '.join(STYLE_SETS)} (held-out-sprites: the sprite styles training never draws, where the targets are "
    "stated; `nitrogen overlay styles` lists them).",
)
@click.option(
    "--crf",
    "crfs",
    multiple=True,
    default=_default(OverlayEvalConfig, "crfs"),
    show_default=True,
    type=click.IntRange(0, 51),
    help="x264 CRF (repeat).",
)
@click.option(
    "--scale",
    "scales",
    multiple=True,
    default=_default(OverlayEvalConfig, "scales"),
    show_default=True,
    type=click.FloatRange(0.5, 2.0),
    help="Scale (repeat).",
)
@click.option(
    "--frames",
    default=_default(OverlayEvalConfig, "frames"),
    show_default=True,
    type=click.IntRange(min=8),
    help="Frames per clip.",
)
@click.option(
    "--parser", "method", type=click.Choice(PARSERS), default=_default(OverlayEvalConfig, "method"), show_default=True
)
@click.option("--parser-weights", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--sticks", type=click.Choice(STICK_READERS), default=_default(OverlayEvalConfig, "sticks"), show_default=True
)
@click.option(
    "--workers",
    default=_default(OverlayEvalConfig, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Clips in parallel.",
)
@click.option("--seed", default=_default(OverlayEvalConfig, "seed"), show_default=True, type=int)
@click.option("--markdown", is_flag=True, help="Markdown tables (for the docs).")
@click.option(
    "--bound",
    is_flag=True,
    help="Also read every clip with an oracle that knows the game behind the overlay: shows how much of the "
    "button and trigger state the compressed video still holds (about doubles the time).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(CLIP_KINDS),
    default=_default(OverlayEvalConfig, "kinds"),
    show_default=True,
    help="Kinds of clip per cell (repeat): play = recorded play's statistics replayed, held = one button held "
    "throughout, idle = nothing pressed, iid = every button a coin flip every frame (the old grid).",
)
@click.option(
    "--play-stats",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Play statistics to replay (JSON from experiments/overlay_play_stats.py); default: the shipped table.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_command(
    styles: tuple[str, ...],
    crfs: tuple[int, ...],
    scales: tuple[float, ...],
    frames: int,
    method: str,
    parser_weights: Path | None,
    sticks: str,
    workers: int,
    seed: int,
    markdown: bool,
    bound: bool,
    kinds: tuple[str, ...],
    play_stats: Path | None,
    quiet: bool,
) -> None:
    """Render clips of held-out styles at several CRFs, scales and kinds of play, extract them, print accuracy tables.

    The last line compares the figures with the issue's targets, on the clips of held-out sprite styles
    (`--style held-out-sprites`) when there are some.
    """
    from nitrogen_datasets.overlay.eval_report import format_evaluation
    from nitrogen_datasets.overlay.evaluate import evaluate_overlays

    config = OverlayEvalConfig(
        styles=styles,
        crfs=crfs,
        scales=scales,
        frames=frames,
        method=method,
        parser_weights=str(parser_weights) if parser_weights else None,
        seed=seed,
        workers=workers,
        bound=bound,
        kinds=kinds,
        play_stats=str(play_stats) if play_stats else None,
        sticks=sticks,
    )
    click.echo(format_evaluation(evaluate_overlays(config, progress=not quiet), markdown=markdown))


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
    "--game", default=_default(CorpusConfig, "game"), show_default=True, help="Game name stored with the episodes."
)
@click.option(
    "--fps",
    default=_default(CorpusConfig, "fps"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Dataset frame rate.",
)
@click.option(
    "--obs-size",
    default=_default(CorpusConfig, "obs_size"),
    show_default=True,
    type=click.IntRange(min=8),
    help="Square frame size.",
)
@click.option(
    "--workers",
    default=_default(build_corpus, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Parallel processes.",
)
@click.option("--ray", "use_ray", is_flag=True, help="Run videos as Ray tasks (pip install 'nitrogen-gym[scale]').")
@click.option("--ray-address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--retry-failed", is_flag=True, help="Try videos that failed in an earlier run again.")
@click.option(
    "--parser", "method", type=click.Choice(PARSERS), default=_default(CorpusConfig, "method"), show_default=True
)
@click.option(
    "--masked-videos",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each video's masked mp4 (full size) into this folder, from the same decode.",
)
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
    masked_videos: Path | None,
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
        method=method,
        masked_videos=str(masked_videos) if masked_videos else None,
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


overlay.add_command(import_preset_command)
overlay.add_command(make_layout_command)
