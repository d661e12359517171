"""``nitrogen overlay import-preset`` and ``make-layout``: layouts from the overlays users already have.

Usage::

    nitrogen overlay import-preset pad.json --texture pad.png --out pad.layout.json
    nitrogen overlay make-layout --screenshot rest.png --boxes boxes.json --out my.layout.json --key-color "#00ff00"

Both write the layout JSON and its rest template beside it (``pad.rest.png``), ready for ``extract``; each
parses its options and calls one library function (:func:`.preset_import.import_preset`,
:func:`.screenshot.make_layout`).
"""

from __future__ import annotations

from pathlib import Path

import click

from nitrogen_datasets.overlay.screenshot import ScreenshotLayoutConfig


@click.command("import-preset")
@click.argument("preset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--texture",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The preset's texture atlas PNG.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Layout JSON to write (the rest template goes beside it).",
)
@click.option("--name", default=None, help="The layout's name (default: the preset's file name).")
def import_preset_command(preset: Path, texture: Path, out: Path, name: str | None) -> None:
    """Convert an OBS input-overlay gamepad PRESET (JSON config + texture atlas) into a layout + rest template."""
    from nitrogen_datasets.overlay.preset_import import import_preset

    result = import_preset(preset, texture, out, name=name)
    layout = result.layout
    width, height = layout.template_size or (0, 0)
    click.echo(
        f"{len(layout.elements)} elements ({', '.join(layout.elements)}) on a {width}x{height} template -> "
        f"{result.layout_path} (template: {layout.template})"
    )
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} element(s) it cannot read: {'; '.join(result.skipped)}", err=True)


@click.command("make-layout")
@click.option(
    "--screenshot",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PNG/JPEG of the overlay at rest (nothing pressed, sticks centred).",
)
@click.option(
    "--boxes",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON of element name -> [x, y, w, h] in screenshot pixels, e.g. {"south": [320, 140, 30, 30]}.',
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Layout JSON to write (the rest template goes beside it).",
)
@click.option("--crop", default=None, metavar="X,Y,W,H", help="The overlay's rectangle in the screenshot.")
@click.option(
    "--key-color",
    default=None,
    metavar="#RRGGBB|R,G,B",
    help="Background colour behind the overlay, made transparent (e.g. an OBS colour source's #00ff00).",
)
@click.option(
    "--key-tolerance",
    default=ScreenshotLayoutConfig.key_tolerance,
    show_default=True,
    type=click.IntRange(0, 255),
    help="Largest per-channel difference from --key-color still keyed out.",
)
@click.option("--name", default=None, help="The layout's name (default: the output's file name).")
def make_layout_command(
    screenshot: Path,
    boxes: Path,
    out: Path,
    crop: str | None,
    key_color: str | None,
    key_tolerance: int,
    name: str | None,
) -> None:
    """Make a layout + rest template from a screenshot of the overlay at rest and its element boxes."""
    from nitrogen_datasets.overlay.screenshot import make_layout, parse_color, parse_crop

    config = ScreenshotLayoutConfig(
        crop=parse_crop(crop) if crop else None,
        key_color=parse_color(key_color) if key_color else None,
        key_tolerance=key_tolerance,
        name=name,
    )
    layout = make_layout(screenshot, boxes, out, config)
    width, height = layout.template_size or (0, 0)
    click.echo(
        f"{len(layout.elements)} elements ({', '.join(layout.elements)}) on a {width}x{height} template -> {out} "
        f"(template: {layout.template})"
    )
