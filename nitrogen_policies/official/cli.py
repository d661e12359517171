"""``nitrogen convert-official ng.pt OUT_DIR``: NVIDIA's release into our checkpoint format, nothing in it run.

Usage::

    hf download nvidia/NitroGen ng.pt --local-dir ~/models
    nitrogen convert-official ~/models/ng.pt runs/nitrogen-official
    nitrogen evaluate --agent runs/nitrogen-official --game CoinRun
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("convert-official")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--game-mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON object of game name -> the release's game id, for a checkpoint that does not carry its mapping.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def convert_official_command(checkpoint: Path, out_dir: Path, game_mapping: Path | None, quiet: bool) -> None:
    """Convert NVIDIA's NitroGen ng.pt into OUT_DIR (config.json + model.safetensors), without running its pickle."""
    from nitrogen_datasets.safe_inputs import load_json
    from nitrogen_policies.errors import CheckpointError
    from nitrogen_policies.official.convert import convert_official

    mapping = None
    if game_mapping is not None:
        try:
            mapping = load_json(game_mapping, "game mapping", max_bytes=1024 * 1024)
        except ValueError as err:  # malformed JSON; a too large or odd file is already one of our errors
            raise CheckpointError(f"{game_mapping} is not valid JSON ({err})") from err
        if not isinstance(mapping, dict):
            raise CheckpointError(f"{game_mapping} must hold a JSON object of game name -> id")
    if not quiet:
        click.echo(f"reading {checkpoint} (restricted: nothing in it is run) ...")
    report = convert_official(checkpoint, out_dir, game_names=mapping)
    if quiet:
        return
    for note in report.notes:
        click.echo(f"note: {note}")
    if report.skipped:
        click.echo(f"skipped derived buffers: {', '.join(report.skipped)}")
    games = len(report.game_names) - 1
    click.echo(
        f"wrote {report.folder}: {report.tensors} tensors, {report.parameters / 1e6:.1f}M values, {games} games "
        f"(load with NitroGenPolicy.from_pretrained({json.dumps(str(report.folder))}))"
    )
