"""Reading an OBS *input-overlay* preset (univrsal/input-overlay): its JSON config and texture atlas.

Many streamers draw their controller with the input-overlay OBS plugin. A preset is a JSON config plus one
PNG texture atlas. The config lists ``elements`` in drawing order, each with a ``type``, a ``pos`` ``[x, y]`` in
overlay pixels and a ``mapping`` ``[u, v, w, h]``: the sprite's rectangle in the atlas. The facts below are the
plugin's own (its ``element_*.cpp`` sources and shipped presets), restated here in our words:

* a state other than the first is the same-sized rectangle one :data:`FRAME_GAP_PX` gap further on: gamepad
  buttons, sticks and triggers keep their pressed sprite *below* the released one (``v + h + 3``); a d-pad
  keeps its eight direction sprites, a gamepad-id element its four other states, *to the right* (``u + k(w + 3)``);
* gamepad buttons (type 2) carry ``code``, an SDL game-controller button index (:data:`SDL_BUTTONS`);
* a stick (type 5) has ``side`` (0 left, 1 right) and ``stick_radius``: its knob sprite is drawn at
  ``pos + axis x radius`` (SDL's y axis points down); its pressed sprite shows the stick click;
* a trigger (type 6) has ``side``; with ``trigger_mode`` true it is a button (pressed sprite from a pull of 0.1),
  else the pressed sprite is revealed in proportion to the pull, from the side ``direction`` names;
* a d-pad (type 8) draws its centre sprite, or the one sprite for the direction (or diagonal) held;
* a gamepad id (type 7) shows the player number, and its fifth frame while the guide button is held;
* textures (type 0) are always drawn; keyboard keys, mouse buttons, wheels and mouse movement are not gamepad
  input (types 1, 3, 4, 9).

The plugin draws elements in file order; ``z_level`` orders them in its editor only.
:mod:`.preset_import` draws a preset for any action and converts it to our layout.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TypeGuard

import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.overlay.layout import STICK_ELEMENTS
from nitrogen_datasets.safe_inputs import MAX_IMAGE_SIDE, InvalidInputFile, load_json, read_image
from nitrogen_envs import gamepad

FRAME_GAP_PX = 3
"""Pixels between one sprite state and the next in an input-overlay atlas (the plugin's ``CFG_INNER_BORDER``)."""
TRIGGER_BUTTON_PULL = 0.1
"""A trigger in button mode shows its pressed sprite from this pull on (the plugin's threshold)."""


class ElementType(IntEnum):
    """The ``type`` numbers of input-overlay elements."""

    TEXTURE = 0
    KEYBOARD_KEY = 1
    GAMEPAD_BUTTON = 2
    MOUSE_BUTTON = 3
    WHEEL = 4
    ANALOG_STICK = 5
    TRIGGER = 6
    GAMEPAD_ID = 7
    DPAD = 8
    MOUSE_MOVEMENT = 9


SDL_BUTTONS: dict[int, str] = {
    0: "south",
    1: "east",
    2: "west",
    3: "north",
    4: "back",
    5: "guide",
    6: "start",
    7: "left_thumb",
    8: "right_thumb",
    9: "left_shoulder",
    10: "right_shoulder",
    11: "dpad_up",
    12: "dpad_down",
    13: "dpad_left",
    14: "dpad_right",
}
"""SDL game-controller button index (an input-overlay ``code``) -> our button name. SDL names buttons by
position (A is the bottom face button), as :data:`nitrogen_envs.gamepad.BUTTON_NAMES` does; 15 and up
(share/mute, paddles, touchpad) have no counterpart and are skipped."""
STICK_SIDES: tuple[str, ...] = STICK_ELEMENTS
"""A stick's element name by its ``side`` (0 left, 1 right)."""
TRIGGER_SIDES: tuple[str, ...] = gamepad.TRIGGERS
"""A trigger's element name by its ``side``."""
DPAD_FRAMES: tuple[frozenset[str], ...] = tuple(
    frozenset(held)
    for held in (
        ("dpad_left",),
        ("dpad_right",),
        ("dpad_up",),
        ("dpad_down",),
        ("dpad_up", "dpad_left"),
        ("dpad_up", "dpad_right"),
        ("dpad_down", "dpad_left"),
        ("dpad_down", "dpad_right"),
    )
)
"""The d-pad's direction sprites in atlas order (frames 1-8 after the centre sprite)."""
TRIGGER_DIRECTIONS = {1: "up", 2: "down", 3: "left", 4: "right"}
"""``direction`` of a progressive trigger: the way its pressed sprite grows as the trigger is pulled."""
GAMEPAD_ID_GUIDE_FRAME = 4
"""The gamepad-id frame shown while the guide button is held (frames 0-3 are players 1-4)."""


class InvalidPreset(DatasetError, ValueError):
    """An input-overlay preset that cannot be imported; the message names the file, the element and the fix."""


@dataclass(frozen=True)
class Sprite:
    """A rectangle ``[u, v, w, h]`` in the texture atlas."""

    u: int
    v: int
    w: int
    h: int

    def below(self) -> Sprite:
        """The pressed state of a button, stick or trigger: the next rectangle down."""
        return Sprite(self.u, self.v + self.h + FRAME_GAP_PX, self.w, self.h)

    def across(self, frame: int) -> Sprite:
        """Frame ``frame`` of a d-pad or gamepad id: ``frame`` rectangles to the right."""
        return Sprite(self.u + frame * (self.w + FRAME_GAP_PX), self.v, self.w, self.h)


@dataclass(frozen=True)
class PresetElement:
    """One element of a preset (fields a type does not use keep their defaults).

    Args:
        type: the element's type.
        id: its label in the preset (for messages).
        pos: top-left ``(x, y)`` of its sprite in overlay pixels.
        sprite: its first (released, centre, player 1) sprite in the atlas.
        code: a gamepad button's SDL index; ``None`` elsewhere.
        side: 0 left, 1 right (sticks and triggers).
        radius: a stick's travel in overlay pixels (the knob moves ``axis x radius``).
        direction: a progressive trigger's fill direction (:data:`TRIGGER_DIRECTIONS`).
        trigger_button: a trigger drawn as a button (``trigger_mode``).
    """

    type: int
    id: str
    pos: tuple[int, int]
    sprite: Sprite
    code: int | None = None
    side: int = 0
    radius: float = 0.0
    direction: int = 0
    trigger_button: bool = False

    def frames(self) -> list[Sprite]:
        """Every atlas rectangle this element may draw."""
        if self.type == ElementType.DPAD:
            return [self.sprite.across(k) for k in range(len(DPAD_FRAMES) + 1)]
        if self.type == ElementType.GAMEPAD_ID:
            return [self.sprite.across(k) for k in range(GAMEPAD_ID_GUIDE_FRAME + 1)]
        if self.type == ElementType.TEXTURE:
            return [self.sprite]
        return [self.sprite, self.sprite.below()]


@dataclass(frozen=True)
class InputOverlayPreset:
    """A parsed preset: the overlay's size (``(0, 0)`` when the config leaves it out) and its elements in order."""

    name: str
    size: tuple[int, int]
    elements: tuple[PresetElement, ...]


def _integer(value: object) -> TypeGuard[int | float]:
    """A JSON integer (or an integral float: the plugin reads numbers with ``toInt``)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _ints(spec: dict, key: str, count: int, where: str) -> tuple[int, ...]:
    raw = spec.get(key)
    if not (isinstance(raw, list) and len(raw) == count and all(_integer(v) for v in raw)):
        raise InvalidPreset(f"{where}: '{key}' must be {count} integers, got {raw!r}")
    values = tuple(int(v) for v in raw)
    if any(abs(v) > MAX_IMAGE_SIDE for v in values):
        raise InvalidPreset(f"{where}: '{key}' {list(values)} is beyond {MAX_IMAGE_SIDE} px; is this the right file?")
    return values


def _element(spec: object, index: int, source: str) -> PresetElement:
    """One element, validated as far as the plugin relies on it."""
    where = f"{source}: element {index}"
    if not isinstance(spec, dict):
        raise InvalidPreset(f"{where}: must be a JSON object, got {type(spec).__name__}")
    where = f"{where} ({spec.get('id', '?')!s})"
    kind = spec.get("type")
    if not _integer(kind):
        raise InvalidPreset(f"{where}: 'type' must be an integer element type, got {kind!r}")
    u, v, w, h = _ints(spec, "mapping", 4, where)
    if w <= 0 or h <= 0 or u < 0 or v < 0:
        raise InvalidPreset(f"{where}: 'mapping' [{u}, {v}, {w}, {h}] needs u, v >= 0 and w, h > 0")
    x, y = _ints(spec, "pos", 2, where)
    numbers: dict[str, int] = {}
    for key in ("code", "side", "stick_radius", "direction"):
        value = spec.get(key)
        if value is not None and not _integer(value):
            raise InvalidPreset(f"{where}: '{key}' must be an integer, got {value!r}")
        if value is not None:
            numbers[key] = int(value)
    radius = numbers.get("stick_radius", 0)
    if not 0 <= radius <= MAX_IMAGE_SIDE:
        raise InvalidPreset(f"{where}: 'stick_radius' {radius} must be 0-{MAX_IMAGE_SIDE} px")
    return PresetElement(
        type=int(kind),
        id=str(spec.get("id", index)),
        pos=(x, y),
        sprite=Sprite(u, v, w, h),
        code=numbers.get("code"),
        side=numbers.get("side", 0),
        radius=float(radius),
        direction=numbers.get("direction", 0),
        trigger_button=spec.get("trigger_mode") is True,
    )


def parse_preset(data: object, source: str = "<preset>", name: str = "preset") -> InputOverlayPreset:
    """Validate a decoded input-overlay config.

    Raises:
        InvalidPreset: not an object with an ``elements`` list, or an element whose type, mapping, position,
            code, side, radius or direction is malformed or out of range.
    """
    if not isinstance(data, dict) or not isinstance(data.get("elements"), list):
        raise InvalidPreset(
            f"{source}: not an input-overlay config (a JSON object with an 'elements' list); give the preset's .json"
        )
    size = []
    for key in ("overlay_width", "overlay_height"):
        value = data.get(key, 0)
        if not _integer(value) or not 0 <= int(value) <= MAX_IMAGE_SIDE:
            raise InvalidPreset(f"{source}: '{key}' must be an integer 0-{MAX_IMAGE_SIDE}, got {value!r}")
        size.append(int(value))
    elements = tuple(_element(spec, index, source) for index, spec in enumerate(data["elements"]))
    return InputOverlayPreset(name=name, size=(size[0], size[1]), elements=elements)


def load_preset(path: str | os.PathLike[str], texture: str | os.PathLike[str]) -> tuple[InputOverlayPreset, np.ndarray]:
    """Read a preset config and its texture atlas (checked by :mod:`nitrogen_datasets.safe_inputs` first).

    Returns:
        The preset and the atlas as (H, W, 4) RGBA uint8 (an RGB atlas gets an opaque alpha).

    Raises:
        InvalidPreset: unreadable or malformed config or atlas, or an element's first sprite reaching outside
            the atlas (a missing later state, e.g. a pressed sprite never drawn, draws nothing, as in OBS).
    """
    path, texture = Path(path), Path(texture)
    try:
        data = load_json(path, "input-overlay config")
        atlas = read_image(texture, "texture atlas")
    except InvalidInputFile as err:
        raise InvalidPreset(str(err)) from err
    except json.JSONDecodeError as err:
        raise InvalidPreset(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err
    if atlas.shape[2] == 3:
        atlas = np.dstack([atlas, np.full(atlas.shape[:2], 255, np.uint8)])
    preset = parse_preset(data, str(path), name=path.stem)
    height, width = atlas.shape[:2]
    for index, element in enumerate(preset.elements):
        sprite = element.sprite
        if sprite.u + sprite.w > width or sprite.v + sprite.h > height:
            raise InvalidPreset(
                f"{path}: element {index} ({element.id}) maps atlas rectangle [{sprite.u}, {sprite.v}, {sprite.w}, "
                f"{sprite.h}], outside the {width}x{height} atlas {texture.name}; give the atlas this preset was "
                "made with (--texture)"
            )
    return preset, atlas
