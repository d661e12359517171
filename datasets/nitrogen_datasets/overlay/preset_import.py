"""Draw an OBS input-overlay preset for any gamepad action, and convert it to our layout + rest template.

:class:`PresetRenderer` draws a preset (:mod:`.preset`) as the plugin does: elements in file order, each
sprite alpha-composited over what is below it, a stick's knob moved by ``axis x radius`` (at sub-pixel
positions, as the GPU draws it), a trigger's pressed sprite revealed in proportion to the pull. Its rest
drawing is the template, and its layout gives each element the box our format asks for
(:mod:`.layout`):

* a button, trigger, d-pad direction or the guide (a gamepad-id element): the region of the overlay that
  changes when it alone is pressed, found by drawing it pressed and released and keeping the bounding box of
  the pixels that differ inside the element's own sprite. That is what the format defines, and it ignores
  transparent padding in the sprite;
* a stick: the square its knob's centre sweeps, the knob sprite's centre at rest +- ``stick_radius``, so its
  box is fractional where the sprite's size is odd.

Elements we cannot read (keyboard keys, mouse elements, SDL buttons we have no name for, a stick with no
travel, a press that changes no pixel) are still drawn at rest, so the template matches the video, and are
listed in :attr:`PresetRenderer.skipped`. The canvas is the preset's ``overlay_width`` x ``overlay_height``
(as OBS crops it), grown with transparent margins where a stick's sweep box reaches past it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from nitrogen_datasets.overlay.layout import STICK_AXES, Box, OverlayLayout, save_layout, template_path_for
from nitrogen_datasets.overlay.preset import (
    DPAD_FRAMES,
    GAMEPAD_ID_GUIDE_FRAME,
    SDL_BUTTONS,
    STICK_SIDES,
    TRIGGER_BUTTON_PULL,
    TRIGGER_DIRECTIONS,
    TRIGGER_SIDES,
    ElementType,
    InputOverlayPreset,
    InvalidPreset,
    PresetElement,
    Sprite,
    load_preset,
)
from nitrogen_datasets.safe_inputs import MAX_IMAGE_SIDE, refuse_overwrite
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)

CHANGE_LEVEL = 8
"""A pixel counts as changed by a press when a channel of the drawing (premultiplied RGB or alpha, 0-255)
moves by more than this: a lossless atlas drawn twice differs by 0, and a press a video can show moves a
pixel by far more."""
DPAD_NAMES = ("dpad_up", "dpad_down", "dpad_left", "dpad_right")
_THUMBS = ("left_thumb", "right_thumb")
_COLUMN = {name: index for index, name in enumerate(gamepad.FLAT_NAMES)}
_STICK_COLUMNS = {stick: (_COLUMN[x], _COLUMN[y]) for stick, (x, y) in STICK_AXES.items()}
_KNOWN_TYPES = frozenset(int(kind) for kind in ElementType)
_NOT_GAMEPAD = {
    ElementType.KEYBOARD_KEY: "keyboard key",
    ElementType.MOUSE_BUTTON: "mouse button",
    ElementType.WHEEL: "mouse wheel",
    ElementType.MOUSE_MOVEMENT: "mouse movement",
}


def _pressed(action: np.ndarray, name: str) -> bool:
    return float(action[_COLUMN[name]]) >= gamepad.BUTTON_THRESHOLD


def dpad_frame(action: np.ndarray) -> int:
    """The d-pad sprite the plugin shows for an action: 0 the centre, else 1-8 (:data:`.preset.DPAD_FRAMES`).

    Up or down wins over the other (up first); left and right held together without up or down show right.
    """
    up, down, left, right = (_pressed(action, name) for name in DPAD_NAMES)
    vertical = "dpad_up" if up else "dpad_down" if down else None
    horizontal = "dpad_left" if left and (vertical or not right) else "dpad_right" if right else None
    held = frozenset(name for name in (vertical, horizontal) if name)
    return DPAD_FRAMES.index(held) + 1 if held else 0


@dataclass
class _Canvas:
    """A premultiplied float RGBA drawing, clipped to the visible rectangle (where OBS draws)."""

    pixels: np.ndarray  # (H, W, 4) float32: RGB premultiplied by alpha, alpha in [0, 1]
    visible: tuple[int, int, int, int]  # x0, y0, x1, y1

    def paste(self, sprite: np.ndarray, x: float, y: float) -> None:
        """Composite a premultiplied float (h, w, 4) sprite with its top-left at canvas ``(x, y)`` (sub-pixel)."""
        ix, iy = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - ix, y - iy
        if fx or fy:  # shift by the fraction with bilinear weights, as the GPU samples a sprite between pixels
            h, w = sprite.shape[:2]
            shift = np.array([[1, 0, fx], [0, 1, fy]], np.float32)
            sprite = cv2.warpAffine(sprite, shift, (w + 1, h + 1), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
        vx0, vy0, vx1, vy1 = self.visible
        x0, y0 = max(ix, vx0), max(iy, vy0)
        x1, y1 = min(ix + sprite.shape[1], vx1), min(iy + sprite.shape[0], vy1)
        if x1 <= x0 or y1 <= y0:
            return
        patch = sprite[y0 - iy : y1 - iy, x0 - ix : x1 - ix]
        region = self.pixels[y0:y1, x0:x1]
        region *= 1.0 - patch[..., 3:4]
        region += patch


def _straight(pixels: np.ndarray) -> np.ndarray:
    """Premultiplied float RGBA (alpha in [0, 1]) -> straight-alpha (H, W, 4) uint8."""
    alpha = np.clip(pixels[..., 3:4], 0.0, 1.0)
    out = np.empty(pixels.shape, np.uint8)
    # Where alpha is 0 the premultiplied colour is 0 too, so the floor on the divisor changes nothing.
    out[..., :3] = np.clip(pixels[..., :3] * (255.0 / np.maximum(alpha, 1e-6)) + 0.5, 0, 255)
    out[..., 3:] = alpha * 255.0 + 0.5
    return out


@dataclass
class _Role:
    """What one preset element shows: the names it reads, or why it is not read."""

    names: tuple[str, ...] = ()
    skipped: str | None = None


def _role(element: PresetElement) -> _Role:
    """The gamepad names a preset element draws (its first name is the one a layout box reads)."""
    kind = element.type
    if kind == ElementType.TEXTURE:
        return _Role()
    if kind in _NOT_GAMEPAD:
        return _Role(skipped=_NOT_GAMEPAD[ElementType(kind)])
    if kind == ElementType.GAMEPAD_BUTTON:
        name = SDL_BUTTONS.get(element.code) if element.code is not None else None
        return _Role((name,)) if name else _Role(skipped=f"gamepad button code {element.code}: no such button")
    if kind in (ElementType.ANALOG_STICK, ElementType.TRIGGER) and element.side not in (0, 1):
        return _Role(skipped=f"side {element.side}: neither 0 (left) nor 1 (right)")
    if kind == ElementType.ANALOG_STICK:
        if element.radius <= 0:
            return _Role(skipped="stick_radius 0: the knob never moves")
        return _Role((STICK_SIDES[element.side],))
    if kind == ElementType.TRIGGER:
        if not element.trigger_button and element.direction not in TRIGGER_DIRECTIONS:
            return _Role(skipped=f"trigger direction {element.direction}: not 1-4 (up, down, left, right)")
        return _Role((TRIGGER_SIDES[element.side],))
    if kind == ElementType.GAMEPAD_ID:
        return _Role(("guide",))
    if kind == ElementType.DPAD:
        return _Role(DPAD_NAMES)
    return _Role(skipped=f"type {kind}: not an input-overlay element type")


def _reacts(element: PresetElement, role: _Role) -> bool:
    """Whether an element's drawing may change with the action (sticks and triggers always move or fill)."""
    return bool(role.names) or element.type in (ElementType.ANALOG_STICK, ElementType.TRIGGER)


class PresetRenderer:
    """Draws an input-overlay preset for any flat (21,) gamepad action, and converts it to our layout.

    Args:
        preset: the parsed config.
        atlas: its texture atlas, (H, W, 4) RGBA uint8.
    """

    def __init__(self, preset: InputOverlayPreset, atlas: np.ndarray) -> None:
        self.preset = preset
        straight = atlas.astype(np.float32) / 255.0
        self._atlas = np.dstack([straight[..., :3] * straight[..., 3:4], straight[..., 3]])
        self.roles = [_role(element) for element in preset.elements]
        self._static = next(
            (i for i, (e, role) in enumerate(zip(preset.elements, self.roles, strict=True)) if _reacts(e, role)),
            len(preset.elements),
        )
        """How many leading elements look the same whatever the action (drawn once, :meth:`_canvas`)."""
        self._base: np.ndarray | None = None
        self._sprites: dict[Sprite, np.ndarray] = {}
        self.skipped: list[str] = [
            f"{element.id!r} ({role.skipped})"
            for element, role in zip(preset.elements, self.roles, strict=True)
            if role.skipped
        ]
        rects = [self._extent(element) for element in preset.elements]
        width, height = preset.size
        if not width or not height:  # the config leaves the size out: everything drawn is visible
            width, height = max(r[2] for r in rects), max(r[3] for r in rects)
        self._visible = (0, 0, width, height)
        sweeps = [self._sweep(e) for e, role in zip(preset.elements, self.roles, strict=True) if self._is_stick(role)]
        x0 = min([0.0, *(s[0] for s in sweeps)])
        y0 = min([0.0, *(s[1] for s in sweeps)])
        x1 = max([float(width), *(s[0] + s[2] for s in sweeps)])
        y1 = max([float(height), *(s[1] + s[3] for s in sweeps)])
        self.origin = (int(np.floor(x0)), int(np.floor(y0)))
        """Overlay pixel at the canvas's top-left (negative where a stick's sweep reaches past the overlay)."""
        self.size = (int(np.ceil(x1)) - self.origin[0], int(np.ceil(y1)) - self.origin[1])
        if max(self.size) > MAX_IMAGE_SIDE:
            raise InvalidPreset(
                f"{preset.name}: the overlay would be {self.size[0]}x{self.size[1]} px, over {MAX_IMAGE_SIDE}; "
                "check overlay_width, overlay_height and stick_radius"
            )

    @staticmethod
    def _is_stick(role: _Role) -> bool:
        return bool(role.names) and role.names[0] in STICK_SIDES

    @staticmethod
    def _extent(element: PresetElement) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the element's sprite at rest, in overlay pixels."""
        x, y = element.pos
        return x, y, x + element.sprite.w, y + element.sprite.h

    @staticmethod
    def _sweep(element: PresetElement) -> tuple[float, float, float, float]:
        """A stick's sweep box (x, y, w, h) in overlay pixels: the knob sprite's centre at rest +- radius."""
        cx = element.pos[0] + element.sprite.w / 2.0
        cy = element.pos[1] + element.sprite.h / 2.0
        return cx - element.radius, cy - element.radius, 2 * element.radius, 2 * element.radius

    def _sprite(self, sprite: Sprite) -> np.ndarray:
        """The premultiplied float pixels of an atlas rectangle (what lies outside the atlas is transparent)."""
        cached = self._sprites.get(sprite)
        if cached is None:
            cached = np.zeros((sprite.h, sprite.w, 4), np.float32)
            part = self._atlas[sprite.v : sprite.v + sprite.h, sprite.u : sprite.u + sprite.w]
            cached[: part.shape[0], : part.shape[1]] = part
            self._sprites[sprite] = cached
        return cached

    # ---- drawing ----------------------------------------------------------------------------------------
    def _canvas(self) -> _Canvas:
        """A canvas holding the leading elements no action changes (the body texture, usually), drawn once."""
        ox, oy = self.origin
        vx0, vy0, vx1, vy1 = self._visible
        if self._base is None:
            width, height = self.size
            base = _Canvas(np.zeros((height, width, 4), np.float32), (vx0 - ox, vy0 - oy, vx1 - ox, vy1 - oy))
            noop = gamepad.noop_flat()
            for element, role in zip(self.preset.elements[: self._static], self.roles, strict=False):
                self._draw_element(base, element, role, noop, (element.pos[0] - ox, element.pos[1] - oy))
            self._base = base.pixels
        return _Canvas(self._base.copy(), (vx0 - ox, vy0 - oy, vx1 - ox, vy1 - oy))

    def draw(self, action: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The overlay for one flat (21,) action as (H, W, 4) RGBA uint8 at ``scale``; alpha is its shape."""
        action = gamepad.validate_flat(action)
        ox, oy = self.origin
        canvas = self._canvas()
        for element, role in zip(self.preset.elements[self._static :], self.roles[self._static :], strict=True):
            self._draw_element(canvas, element, role, action, (element.pos[0] - ox, element.pos[1] - oy))
        if scale == 1.0:
            return _straight(canvas.pixels)
        width, height = self.size
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return _straight(cv2.resize(canvas.pixels, size, interpolation=interpolation))

    def template(self) -> np.ndarray:
        """The overlay at rest (nothing pressed, sticks centred), RGBA at scale 1."""
        return self.draw(gamepad.noop_flat())

    def _draw_element(
        self, canvas: _Canvas, element: PresetElement, role: _Role, action: np.ndarray, at: tuple[int, int]
    ) -> None:
        kind, sprite = element.type, element.sprite
        x, y = at
        if kind not in _KNOWN_TYPES:
            return  # an unknown type: the plugin draws nothing either
        if kind == ElementType.ANALOG_STICK:
            side = element.side if element.side in (0, 1) else 0
            ix, iy = _STICK_COLUMNS[STICK_SIDES[side]]
            clicked = _pressed(action, _THUMBS[side])
            # Our +y is up; the plugin's (SDL's) y axis points down the screen.
            dx, dy = float(action[ix]) * element.radius, -float(action[iy]) * element.radius
            canvas.paste(self._sprite(sprite.below() if clicked else sprite), x + dx, y + dy)
        elif kind == ElementType.TRIGGER:
            self._draw_trigger(canvas, element, role, action, at)
        elif kind == ElementType.DPAD:
            canvas.paste(self._sprite(sprite.across(dpad_frame(action))), x, y)
        elif kind == ElementType.GAMEPAD_ID:
            if _pressed(action, "guide"):  # the plugin draws the guide frame, then the player number over it
                canvas.paste(self._sprite(sprite.across(GAMEPAD_ID_GUIDE_FRAME)), x, y)
            canvas.paste(self._sprite(sprite), x, y)
        elif kind == ElementType.GAMEPAD_BUTTON and role.names and _pressed(action, role.names[0]):
            canvas.paste(self._sprite(sprite.below()), x, y)
        else:  # textures, released buttons, and elements that are not gamepad input, at rest
            canvas.paste(self._sprite(sprite), x, y)

    def _draw_trigger(
        self, canvas: _Canvas, element: PresetElement, role: _Role, action: np.ndarray, at: tuple[int, int]
    ) -> None:
        sprite, (x, y) = element.sprite, at
        pull = float(action[_COLUMN[role.names[0]]]) if role.names else 0.0
        if element.trigger_button:
            canvas.paste(self._sprite(sprite.below() if pull >= TRIGGER_BUTTON_PULL else sprite), x, y)
            return
        canvas.paste(self._sprite(sprite), x, y)  # the released sprite, then the revealed part of the pressed one
        direction = TRIGGER_DIRECTIONS.get(element.direction)
        pressed = self._sprite(sprite.below())
        h, w = sprite.h, sprite.w
        rows, cols = int(h * pull), int(w * pull)  # the plugin truncates, as here
        if direction == "up" and rows:
            canvas.paste(pressed[h - rows :], x, y + h - rows)
        elif direction == "down" and rows:
            canvas.paste(pressed[:rows], x, y)
        elif direction == "left" and cols:
            canvas.paste(pressed[:, w - cols :], x + w - cols, y)
        elif direction == "right" and cols:
            canvas.paste(pressed[:, :cols], x, y)

    # ---- layout -----------------------------------------------------------------------------------------
    def layout(self, template_file: str = "rest.png", name: str | None = None) -> OverlayLayout:
        """Our layout of the preset (boxes in template pixels; see the module docstring).

        Elements it cannot read are added to :attr:`skipped`.

        Raises:
            InvalidPreset: no element of the preset can be read as gamepad input.
        """
        rest = self.template().astype(np.int16)
        ox, oy = self.origin
        boxes: dict[str, Box] = {}
        for element, role in zip(self.preset.elements, self.roles, strict=True):
            if role.skipped:
                continue
            for element_name in role.names:
                if element_name in boxes:
                    self.skipped.append(f"{element.id!r} ({element_name} drawn again: the first one is read)")
                    continue
                if element_name in STICK_SIDES:
                    x, y, w, h = self._sweep(element)
                    boxes[element_name] = Box(x - ox, y - oy, w, h)
                    continue
                box = self._changed_box(element, element_name, rest)
                if box is None:
                    self.skipped.append(f"{element.id!r} ({element_name} pressed changes no pixel)")
                else:
                    boxes[element_name] = box
        if not boxes:
            raise InvalidPreset(
                f"{self.preset.name}: no element can be read as gamepad input (skipped: {', '.join(self.skipped)}); "
                "give a gamepad preset"
            )
        return OverlayLayout(
            name=name or self.preset.name, template=template_file, elements=boxes, template_size=self.size
        )

    def _changed_box(self, element: PresetElement, name: str, rest: np.ndarray) -> Box | None:
        """Bounding box (template pixels) of what pressing ``name`` alone changes inside the element's sprite."""
        action = gamepad.noop_flat()
        action[_COLUMN[name]] = 1.0
        pressed = self.draw(action).astype(np.int16)
        x0, y0, x1, y1 = self._extent(element)
        x0, x1 = x0 - self.origin[0], x1 - self.origin[0]
        y0, y1 = y0 - self.origin[1], y1 - self.origin[1]
        x0, y0 = max(0, x0), max(0, y0)

        def premultiplied(image: np.ndarray) -> np.ndarray:
            return np.dstack([image[..., :3] * image[..., 3:4] // 255, image[..., 3]])

        diff = np.abs(premultiplied(pressed[y0:y1, x0:x1]) - premultiplied(rest[y0:y1, x0:x1])).max(axis=2)
        ys, xs = np.nonzero(diff > CHANGE_LEVEL)
        if not len(xs):
            return None
        return Box(x0 + int(xs.min()), y0 + int(ys.min()), int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1)


@dataclass
class PresetImport:
    """What :func:`import_preset` wrote and what it could not read."""

    layout_path: Path
    layout: OverlayLayout
    skipped: list[str] = field(default_factory=list)


def import_preset(
    preset_path: str | os.PathLike[str],
    texture: str | os.PathLike[str],
    out: str | os.PathLike[str],
    name: str | None = None,
) -> PresetImport:
    """Convert an input-overlay preset (config + atlas) into our layout JSON and rest template PNG.

    Args:
        preset_path: the preset's ``.json`` config.
        texture: its texture atlas PNG.
        out: the layout JSON to write; the template goes beside it (:func:`template_path_for`).
        name: the layout's name (default: the config's file name).

    Raises:
        InvalidPreset: an unreadable or malformed preset, or one with no element to read.
        OutputOverwritesInput: ``out`` or the template would overwrite the config or the atlas.
    """
    out = Path(out)
    template_path = template_path_for(out)
    refuse_overwrite({"--out": out, "template": template_path}, {"preset": preset_path, "--texture": texture})
    preset, atlas = load_preset(preset_path, texture)
    renderer = PresetRenderer(preset, atlas)
    layout = renderer.layout(template_file=template_path.name, name=name)
    save_layout(layout, renderer.template(), out)
    if renderer.skipped:
        logger.warning(
            "%s: skipped %d element(s) it cannot read: %s",
            preset_path,
            len(renderer.skipped),
            "; ".join(renderer.skipped),
        )
    return PresetImport(out, layout, list(renderer.skipped))
