"""The overlay layout format (``nitrogen-overlay-layout/1``): the public contract for reading an overlay.

A layout is a JSON file next to a template image of the overlay at rest (nothing pressed, sticks
centred). ``elements`` maps gamepad element names to boxes ``[x, y, w, h]`` in template pixels:

* a button or trigger box is the region that changes when it is pressed;
* a stick box is the square its knob's centre sweeps: the centre is neutral, the edges are -1/+1, +y up.

Box values are numbers, integers or not: a preset converted from another tool places elements at sub-pixel
positions (a knob sprite 157 px wide centred at ``pos + 78.5``; a template resized by 1.37), and rounding them
on the way in would move every box by up to half a template pixel, which the overlay's scale in the video then
multiplies. They stay exact until a parser cuts pixels (:func:`~.parse.frame_box` scales a box to the found
placement and rounds once, in frame pixels). The format stays version 1: every integer file means what it
meant, and a reader from before fractional boxes refuses a fractional one with a one-line error naming the box.

Example::

    {"format": "nitrogen-overlay-layout/1", "name": "my-overlay", "template": "rest.png",
     "elements": {"south": {"box": [180, 60, 24, 24]}, "left_stick": {"box": [20, 40, 40, 40]}}}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.safe_inputs import InvalidInputFile, load_json, read_image
from nitrogen_envs import gamepad

if TYPE_CHECKING:  # numpy is imported where a template is read, not for the format's names
    import numpy as np

LAYOUT_FORMAT = "nitrogen-overlay-layout/1"
STICK_ELEMENTS: tuple[str, ...] = ("left_stick", "right_stick")
ELEMENT_NAMES: tuple[str, ...] = (*gamepad.BUTTON_NAMES, *gamepad.TRIGGERS, *STICK_ELEMENTS)
STICK_AXES: dict[str, tuple[str, str]] = {
    stick: (gamepad.STICK_AXES[2 * i], gamepad.STICK_AXES[2 * i + 1]) for i, stick in enumerate(STICK_ELEMENTS)
}
"""The (x, y) axes of :data:`nitrogen_envs.gamepad.STICK_AXES` each stick element shows."""
BOX_SLACK_PX = 0.01
"""How far (template pixels) a box may reach past the template's edge and still count as inside: a converted
preset's float arithmetic lands a box ending at the template's edge at e.g. 240.0000001."""


class InvalidLayout(DatasetError, ValueError):
    """A layout file that breaks the format; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Box:
    """A rectangle in template pixels; values may be fractional (sub-pixel), ints stay ints."""

    x: float
    y: float
    w: float
    h: float

    def as_list(self) -> list[float]:
        """``[x, y, w, h]`` as given (an integer box writes integers)."""
        return [self.x, self.y, self.w, self.h]

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) of the box centre."""
        return self.x + self.w / 2.0, self.y + self.h / 2.0


@dataclass(frozen=True)
class OverlayLayout:
    """A parsed, validated layout.

    Args:
        name: human name of the overlay.
        template: template image path, relative to the layout file.
        elements: element name -> box (any subset of :data:`ELEMENT_NAMES`).
        template_size: (width, height) of the template in pixels, when known.
    """

    name: str
    template: str
    elements: dict[str, Box] = field(default_factory=dict)
    template_size: tuple[int, int] | None = None

    def to_dict(self) -> dict:
        """The JSON form."""
        return {
            "format": LAYOUT_FORMAT,
            "name": self.name,
            "template": self.template,
            "elements": {name: {"box": box.as_list()} for name, box in self.elements.items()},
        }


def _fail(path: Path | str, message: str) -> InvalidLayout:
    return InvalidLayout(f"{path}: {message}")


def parse_layout(
    data: object, source: Path | str = "<layout>", template_size: tuple[int, int] | None = None
) -> OverlayLayout:
    """Validate a decoded layout JSON object.

    Raises:
        InvalidLayout: wrong format tag, unknown element names, malformed or out-of-template boxes.
    """
    if not isinstance(data, dict):
        raise _fail(source, f"a layout must be a JSON object, got {type(data).__name__}")
    if data.get("format") != LAYOUT_FORMAT:
        raise _fail(source, f"'format' must be {LAYOUT_FORMAT!r}, got {data.get('format')!r}")
    for key in ("name", "template"):
        if not isinstance(data.get(key), str) or not data.get(key):
            raise _fail(source, f"'{key}' must be a non-empty string")
    elements = data.get("elements")
    if not isinstance(elements, dict) or not elements:
        raise _fail(source, "'elements' must be a non-empty object of element name -> {\"box\": [x, y, w, h]}")
    unknown = sorted(set(elements) - set(ELEMENT_NAMES))
    if unknown:
        raise _fail(source, f"unknown element name(s) {unknown}; valid names are {list(ELEMENT_NAMES)}")
    boxes = {name: _parse_box(name, spec, source, template_size) for name, spec in elements.items()}
    return OverlayLayout(name=data["name"], template=data["template"], elements=boxes, template_size=template_size)


def _is_number(value: object) -> bool:
    """A finite JSON number.

    ``bool`` is an ``int`` in Python, but ``true`` is not a coordinate; Python's ``json`` reads ``NaN`` and
    ``Infinity``, which are not either.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _parse_box(name: str, spec: object, source: Path | str, template_size: tuple[int, int] | None) -> Box:
    """One element's validated box: four finite numbers, a positive size, inside the template (with slack)."""
    raw = spec.get("box") if isinstance(spec, dict) else None
    if not (isinstance(raw, list) and len(raw) == 4 and all(_is_number(v) for v in raw)):
        raise _fail(
            source, f"element {name!r}: 'box' must be four finite numbers [x, y, w, h] (template pixels), got {raw!r}"
        )
    box = Box(*raw)
    if box.w <= 0 or box.h <= 0 or box.x < -BOX_SLACK_PX or box.y < -BOX_SLACK_PX:
        raise _fail(source, f"element {name!r}: box {raw} needs x, y >= 0 and w, h > 0")
    if template_size is not None and (
        box.x + box.w > template_size[0] + BOX_SLACK_PX or box.y + box.h > template_size[1] + BOX_SLACK_PX
    ):
        raise _fail(
            source,
            f"element {name!r}: box {raw} reaches ({box.x + box.w:g}, {box.y + box.h:g}), outside the "
            f"{template_size[0]}x{template_size[1]} template",
        )
    return box


def load_layout(path: str | os.PathLike[str]) -> tuple[OverlayLayout, np.ndarray]:
    """Read and validate a layout file and its template image.

    Both files are checked before they are parsed (:mod:`nitrogen_datasets.safe_inputs`): regular files
    only, the JSON within 1 MB and 64 levels, the template an 8-bit PNG or JPEG within the pixel limit.

    Returns:
        The layout and the template as an RGBA (or RGB) uint8 array.

    Raises:
        InvalidLayout: unreadable JSON (with line and column), a missing, oversized or unsupported
            template, or a format error.
    """
    path = Path(path)
    try:
        data = load_json(path, "layout file")
    except InvalidInputFile as err:
        raise _fail(path, str(err)) from err
    except json.JSONDecodeError as err:
        raise _fail(path, f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err
    template_name = data.get("template") if isinstance(data, dict) else None
    if not isinstance(template_name, str) or not template_name:
        raise _fail(path, "'template' must name the template image (relative to the layout file)")
    try:
        image = read_image(path.parent / template_name, "template image")
    except InvalidInputFile as err:
        raise _fail(path, str(err)) from err
    layout = parse_layout(data, path, template_size=(image.shape[1], image.shape[0]))
    return layout, image


def template_path_for(layout_path: str | os.PathLike[str]) -> Path:
    """Where a layout written from an import keeps its template: ``my.layout.json`` -> ``my.rest.png`` beside it."""
    path = Path(layout_path)
    stem = path.name.removesuffix(".json").removesuffix(".layout")
    return path.with_name(f"{stem}.rest.png")


def save_layout(layout: OverlayLayout, template_rgba: object, path: str | os.PathLike[str]) -> Path:
    """Write the layout JSON and its template PNG atomically (temp files, then rename)."""
    import cv2
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    template = np.asarray(template_rgba)
    bgr = cv2.cvtColor(template, cv2.COLOR_RGBA2BGRA if template.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    template_path = path.parent / layout.template
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as handle:
        tmp_png = Path(handle.name)
    if not cv2.imwrite(str(tmp_png), bgr):
        tmp_png.unlink(missing_ok=True)
        raise OSError(f"could not write {template_path}")
    os.replace(tmp_png, template_path)
    tmp_json = path.with_suffix(path.suffix + ".tmp")
    tmp_json.write_text(json.dumps(layout.to_dict(), indent=2))
    os.replace(tmp_json, path)
    return path
