"""A layout from what any user has: a screenshot of their overlay at rest and the boxes of its elements.

The generic route when the overlay is not an input-overlay preset (:mod:`.preset_import`): take a screenshot
of the overlay with nothing pressed and the sticks centred (over a plain background colour, e.g. an OBS
colour source, so it can be keyed out), and write each element's box ``[x, y, w, h]`` in the screenshot's
pixels (as an image editor shows them) in a JSON file, either as a layout's ``elements`` object
(``{"south": {"box": [...]}, ...}``) or flat (``{"south": [...], ...}``). :func:`make_layout` crops the
screenshot to the overlay, keys the background colour out to transparency (the template's alpha is its
shape, which the localizer matches), moves the boxes into the crop and validates them as the layout format
does, then writes the layout and its template.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.layout import (
    LAYOUT_FORMAT,
    InvalidLayout,
    OverlayLayout,
    parse_layout,
    save_layout,
    template_path_for,
)
from nitrogen_datasets.safe_inputs import InvalidInputFile, load_json, read_image, refuse_overwrite

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class ScreenshotLayoutConfig:
    """How a screenshot becomes a template.

    Args:
        crop: ``(x, y, w, h)`` of the overlay in the screenshot (pixels); ``None`` keeps the whole image.
            The boxes stay in the screenshot's pixels either way.
        key_color: ``(r, g, b)`` of the background behind the overlay, made transparent; ``None`` keeps
            every pixel opaque (the whole crop is then the overlay's shape).
        key_tolerance: largest per-channel difference (0-255) from ``key_color`` still keyed out: a lossy
            screenshot shifts a flat colour by a few levels, and anti-aliased edges blend it with the overlay.
        name: the layout's name (default: the output file's name).
    """

    crop: tuple[int, int, int, int] | None = None
    key_color: tuple[int, int, int] | None = None
    key_tolerance: int = 24
    name: str | None = None

    def __post_init__(self) -> None:
        if self.crop is not None and (len(self.crop) != 4 or min(self.crop[2:]) <= 0 or min(self.crop[:2]) < 0):
            raise InvalidOverlayConfig(f"crop must be x,y,w,h with x, y >= 0 and w, h > 0, got {self.crop}")
        if self.key_color is not None and (len(self.key_color) != 3 or not all(0 <= c <= 255 for c in self.key_color)):
            raise InvalidOverlayConfig(f"key_color must be three values 0-255 (r,g,b), got {self.key_color}")
        if not 0 <= self.key_tolerance <= 255:
            raise InvalidOverlayConfig(f"key_tolerance must be 0-255, got {self.key_tolerance}")


def parse_crop(text: str) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` -> a crop rectangle.

    Raises:
        InvalidOverlayConfig: not four comma-separated integers.
    """
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(re.fullmatch(r"\d{1,6}", part) for part in parts):
        raise InvalidOverlayConfig(f"crop {text!r} is not X,Y,W,H in whole pixels; write e.g. 900,500,380,220")
    x, y, w, h = (int(part) for part in parts)
    return x, y, w, h


def parse_color(text: str) -> tuple[int, int, int]:
    """``"#00ff00"`` or ``"0,255,0"`` -> ``(r, g, b)``.

    Raises:
        InvalidOverlayConfig: neither form, or a value outside 0-255.
    """
    match = _HEX.match(text.strip())
    if match:
        value = int(match.group(1), 16)
        return value >> 16, (value >> 8) & 255, value & 255
    parts = [part.strip() for part in text.split(",")]
    if len(parts) == 3 and all(re.fullmatch(r"\d{1,3}", part) and int(part) <= 255 for part in parts):
        r, g, b = (int(part) for part in parts)
        return r, g, b
    raise InvalidOverlayConfig(f"colour {text!r} is not #rrggbb or r,g,b (0-255); write e.g. #00ff00 or 0,255,0")


def _boxes(path: Path) -> dict[str, object]:
    """The ``elements`` object of a boxes file (either form), each as ``{"box": [...]}``."""
    try:
        data = load_json(path, "boxes file")
    except InvalidInputFile as err:
        raise InvalidLayout(str(err)) from err
    except json.JSONDecodeError as err:
        raise InvalidLayout(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err
    if isinstance(data, dict) and isinstance(data.get("elements"), dict):
        data = data["elements"]
    if not isinstance(data, dict) or not data:
        raise InvalidLayout(
            f'{path}: give a JSON object of element name -> [x, y, w, h] (e.g. {{"south": [320, 140, 30, 30]}}), '
            f"or a layout's 'elements'"
        )
    return {name: spec if isinstance(spec, dict) else {"box": spec} for name, spec in data.items()}


def _shifted(spec: object, dx: int, dy: int) -> object:
    """A box spec moved by ``(-dx, -dy)``, or as given when it is malformed (validation reports it)."""
    box = spec.get("box") if isinstance(spec, dict) else None
    if (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box)
    ):
        return {"box": [box[0] - dx, box[1] - dy, box[2], box[3]]}
    return spec


def key_out(image: np.ndarray, color: tuple[int, int, int], tolerance: int) -> np.ndarray:
    """(H, W, 4) RGBA: ``image``'s RGB, transparent where every channel is within ``tolerance`` of ``color``."""
    rgb = image[..., :3]
    background = (np.abs(rgb.astype(np.int16) - np.asarray(color, np.int16)) <= tolerance).all(axis=2)
    alpha = image[..., 3] if image.shape[2] == 4 else np.full(rgb.shape[:2], 255, np.uint8)
    return np.dstack([rgb, np.where(background, 0, alpha).astype(np.uint8)])


def make_layout(
    screenshot: str | os.PathLike[str],
    boxes: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: ScreenshotLayoutConfig | None = None,
) -> OverlayLayout:
    """Write a layout JSON and its rest template (beside it) from a screenshot and a boxes file.

    Raises:
        InvalidLayout: an unreadable screenshot or boxes file, a crop outside the screenshot, a key colour
            that leaves nothing, or a box that is malformed, unknown or outside the crop (named with its file).
        OutputOverwritesInput: the layout or template would overwrite the screenshot or the boxes file.
    """
    config = config or ScreenshotLayoutConfig()
    screenshot, boxes_path, out = Path(screenshot), Path(boxes), Path(out)
    template_path = template_path_for(out)
    refuse_overwrite({"--out": out, "template": template_path}, {"--screenshot": screenshot, "--boxes": boxes_path})
    try:
        image = read_image(screenshot, "screenshot")
    except InvalidInputFile as err:
        raise InvalidLayout(str(err)) from err
    height, width = image.shape[:2]
    x, y, w, h = config.crop or (0, 0, width, height)
    if x + w > width or y + h > height:
        raise InvalidLayout(
            f"{screenshot}: crop {x},{y},{w},{h} reaches ({x + w}, {y + h}), outside the {width}x{height} screenshot"
        )
    image = image[y : y + h, x : x + w]
    if config.key_color is not None:
        image = key_out(image, config.key_color, config.key_tolerance)
        if not image[..., 3].any():
            raise InvalidLayout(
                f"{screenshot}: keying out {config.key_color} (tolerance {config.key_tolerance}) leaves no pixel; "
                "give the background's colour, or a lower --key-tolerance"
            )
    elif image.shape[2] == 3:
        image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    elements = {name: _shifted(spec, x, y) for name, spec in _boxes(boxes_path).items()}
    data = {
        "format": LAYOUT_FORMAT,
        "name": config.name or out.name.removesuffix(".json").removesuffix(".layout"),
        "template": template_path.name,
        "elements": elements,
    }
    where = f"{boxes_path} (boxes moved into the {w}x{h} crop at {x},{y})" if config.crop else str(boxes_path)
    layout = parse_layout(data, where, template_size=(w, h))
    save_layout(layout, image, out)
    return layout
