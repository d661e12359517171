"""``nitrogen overlay train-parser`` and ``eval``: train the learned parser on synthetic renders; measure readings.

Usage::

    nitrogen overlay train-parser --out runs/parser            # synthetic renders -> parser.safetensors
    nitrogen overlay train-parser --out runs/sprites --sprite-fraction 0.5 --init runs/parser --threads 2
    nitrogen overlay eval --markdown                            # accuracy on held-out styles x CRF x scale
    nitrogen overlay eval --style held-out-sprites              # the sprite styles training never draws

Each parses its options into the library's config dataclass (defaults from :func:`.cli_defaults.config_default`)
and calls one library function; torch and PyAV load only when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from nitrogen_datasets.overlay.action_sequences import CLIP_KINDS
from nitrogen_datasets.overlay.cli_defaults import config_default
from nitrogen_datasets.overlay.evaluate import STYLE_SETS, OverlayEvalConfig
from nitrogen_datasets.overlay.extract import PARSERS, STICK_READERS
from nitrogen_datasets.overlay.parser_config import PRESS_RATE, REST_FRAMES, TRIGGER_RATE, ParserTrainConfig, SampleMix


@click.command("train-parser")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option(
    "--renders",
    default=config_default(ParserTrainConfig, "renders"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Synthetic overlays.",
)
@click.option(
    "--epochs", default=config_default(ParserTrainConfig, "epochs"), show_default=True, type=click.IntRange(min=1)
)
@click.option(
    "--batch-size",
    default=config_default(ParserTrainConfig, "batch_size"),
    show_default=True,
    type=click.IntRange(min=1),
)
@click.option("--lr", default=config_default(ParserTrainConfig, "lr"), show_default=True, type=float)
@click.option(
    "--workers",
    default=config_default(ParserTrainConfig, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Rendering processes.",
)
@click.option("--seed", default=config_default(ParserTrainConfig, "seed"), show_default=True, type=int)
@click.option(
    "--device",
    default=config_default(ParserTrainConfig, "device"),
    show_default=True,
    help="Where the network trains: cpu, cuda, cuda:1.",
)
@click.option(
    "--button-margin",
    default=config_default(ParserTrainConfig, "button_margin"),
    show_default=True,
    type=click.FloatRange(0.0, 0.5),
    help="Context around button and trigger crops, as a fraction of the box's larger side.",
)
@click.option(
    "--sprite-fraction",
    default=config_default(ParserTrainConfig, "sprite_fraction"),
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of the renders drawn in sprite-sheet styles (only the families and treatments the sprite split "
    "trains on; held-out ones are never drawn). 0 keeps the shipped parser's training stream.",
)
@click.option(
    "--press-rate",
    default=PRESS_RATE,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of buttons pressed in a training sample (real play presses about 2% of button-frames; the "
    "default is the shipped parser's stream).",
)
@click.option(
    "--trigger-rate",
    default=TRIGGER_RATE,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of triggers pulled in a training sample (half fully, half part way).",
)
@click.option(
    "--rest-frames",
    default=",".join(map(str, REST_FRAMES)),
    show_default=True,
    help="Odd frame counts, comma-separated: a training sample's rest image is the median of one of them.",
)
@click.option(
    "--threads",
    default=config_default(ParserTrainConfig, "threads"),
    type=click.IntRange(min=1),
    help="Torch CPU threads for training (default: torch's own count); the previous count is restored after.",
)
@click.option(
    "--init",
    default=config_default(ParserTrainConfig, "init"),
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
    press_rate: float,
    trigger_rate: float,
    rest_frames: str,
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
        mix=SampleMix(press_rate, trigger_rate, _counts(rest_frames)),
    )
    result = train_parser(config, out, progress=not quiet)
    click.echo(
        f"parser saved to {result.out} after {result.seconds:.0f} s on {result.samples} element samples; validation: "
        f"button {result.button_accuracy:.4f}, trigger {result.trigger_accuracy:.4f}, stick R2 {result.stick_r2:.4f}"
    )


def _counts(text: str) -> tuple[int, ...]:
    """``--rest-frames``' comma-separated counts; a malformed list is a usage error naming the option."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of counts, e.g. 1,3", param_hint="--rest-frames"
        ) from None


@click.command("eval")
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
    default=config_default(OverlayEvalConfig, "crfs"),
    show_default=True,
    type=click.IntRange(0, 51),
    help="x264 CRF (repeat).",
)
@click.option(
    "--scale",
    "scales",
    multiple=True,
    default=config_default(OverlayEvalConfig, "scales"),
    show_default=True,
    type=click.FloatRange(0.5, 2.0),
    help="Scale (repeat).",
)
@click.option(
    "--frames",
    default=config_default(OverlayEvalConfig, "frames"),
    show_default=True,
    type=click.IntRange(min=8),
    help="Frames per clip.",
)
@click.option(
    "--parser",
    "method",
    type=click.Choice(PARSERS),
    default=config_default(OverlayEvalConfig, "method"),
    show_default=True,
)
@click.option("--parser-weights", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--sticks", type=click.Choice(STICK_READERS), default=config_default(OverlayEvalConfig, "sticks"), show_default=True
)
@click.option(
    "--workers",
    default=config_default(OverlayEvalConfig, "workers"),
    show_default=True,
    type=click.IntRange(min=1),
    help="Clips in parallel.",
)
@click.option("--seed", default=config_default(OverlayEvalConfig, "seed"), show_default=True, type=int)
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
    default=config_default(OverlayEvalConfig, "kinds"),
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
