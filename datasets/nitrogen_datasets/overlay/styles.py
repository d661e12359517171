"""A parametric family of input-overlay styles: controller families, palettes, press effects, opacity, scale.

Each style is a plain dataclass (so a parser can be trained on many and evaluated on held-out ones). The
geometry of a family is defined once, in template pixels at scale 1; drawing at another scale multiplies
every coordinate, which keeps the rendered overlay crisp.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

import numpy as np

from nitrogen_datasets.errors import DatasetError
from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.sprite_styles import SPRITE_FAMILIES, SpriteStyle, is_sprite_name, sprite_style
from nitrogen_datasets.overlay.style_checks import check_placement
from nitrogen_envs import gamepad

FAMILIES = ("xbox", "playstation", "minimal", "keycaps")
PRESS_EFFECTS = ("highlight", "color", "fill", "grow")

# One element's drawing: (shape, x, y, w, h) in template pixels; shape in circle | rect | stick | bar.
Shape = tuple[str, float, float, float, float]


@dataclass(frozen=True)
class OverlayStyle:
    """How an overlay looks.

    Args:
        name: style id (held-out evaluation refers to it).
        family: controller family, one of :data:`FAMILIES`.
        base: RGB of unpressed elements. accent: RGB of outlines and labels. pressed: RGB when pressed.
        panel: RGB of the background panel; ``panel_alpha`` its opacity (0 = no panel).
        filled: unpressed buttons are filled (else outlined only).
        press_effect: how pressing shows, one of :data:`PRESS_EFFECTS`.
        opacity: overall overlay opacity when composited (0.3-1.0).
        scale: size relative to the template (0.5-2.0).
        position: (x, y) of the overlay's top-left corner as a fraction of the free frame area.
    """

    name: str
    family: str = "xbox"
    base: tuple[int, int, int] = (70, 70, 70)
    accent: tuple[int, int, int] = (230, 230, 230)
    pressed: tuple[int, int, int] = (90, 200, 90)
    panel: tuple[int, int, int] = (20, 20, 20)
    panel_alpha: float = 0.6
    filled: bool = True
    press_effect: str = "color"
    opacity: float = 1.0
    scale: float = 1.0
    position: tuple[float, float] = (0.02, 0.7)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise InvalidOverlayConfig(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.press_effect not in PRESS_EFFECTS:
            raise InvalidOverlayConfig(f"press_effect must be one of {PRESS_EFFECTS}, got {self.press_effect!r}")
        check_placement(self.opacity, self.scale, self.position)


def family_geometry(family: str) -> tuple[tuple[int, int], dict[str, Shape]]:
    """Template size (width, height) and element shapes of a controller family."""
    if family == "xbox":
        size = (240, 150)
        shapes: dict[str, Shape] = {
            "left_trigger": ("bar", 30, 6, 40, 12), "right_trigger": ("bar", 170, 6, 40, 12),
            "left_shoulder": ("rect", 26, 22, 48, 10), "right_shoulder": ("rect", 166, 22, 48, 10),
            "left_stick": ("stick", 30, 42, 40, 40), "right_stick": ("stick", 136, 88, 40, 40),
            "dpad_up": ("rect", 74, 88, 12, 14), "dpad_down": ("rect", 74, 114, 12, 14),
            "dpad_left": ("rect", 60, 102, 14, 12), "dpad_right": ("rect", 86, 102, 14, 12),
            "north": ("circle", 190, 40, 16, 16), "south": ("circle", 190, 76, 16, 16),
            "west": ("circle", 172, 58, 16, 16), "east": ("circle", 208, 58, 16, 16),
            "back": ("circle", 100, 52, 10, 10), "start": ("circle", 130, 52, 10, 10), "guide": ("circle", 113, 30, 14, 14),
            "left_thumb": ("circle", 16, 88, 8, 8), "right_thumb": ("circle", 182, 134, 8, 8),
        }  # fmt: skip
    elif family == "playstation":
        size = (240, 150)
        shapes = {
            "left_trigger": ("bar", 26, 6, 44, 12), "right_trigger": ("bar", 170, 6, 44, 12),
            "left_shoulder": ("rect", 26, 22, 44, 10), "right_shoulder": ("rect", 170, 22, 44, 10),
            "dpad_up": ("rect", 42, 40, 12, 14), "dpad_down": ("rect", 42, 66, 12, 14),
            "dpad_left": ("rect", 28, 54, 14, 12), "dpad_right": ("rect", 54, 54, 14, 12),
            "north": ("circle", 190, 38, 16, 16), "south": ("circle", 190, 74, 16, 16),
            "west": ("circle", 172, 56, 16, 16), "east": ("circle", 208, 56, 16, 16),
            "left_stick": ("stick", 64, 94, 40, 40), "right_stick": ("stick", 136, 94, 40, 40),
            "back": ("rect", 84, 40, 14, 8), "start": ("rect", 142, 40, 14, 8), "guide": ("circle", 113, 62, 14, 14),
            "left_thumb": ("circle", 56, 140, 8, 8), "right_thumb": ("circle", 176, 140, 8, 8),
        }  # fmt: skip
    elif family == "minimal":
        size = (170, 92)
        shapes = {
            "left_stick": ("stick", 10, 10, 28, 28), "right_stick": ("stick", 10, 54, 28, 28),
            "left_trigger": ("bar", 54, 4, 52, 8), "right_trigger": ("bar", 112, 4, 52, 8),
        }  # fmt: skip
        order = ("south", "east", "west", "north", "left_shoulder", "right_shoulder", "back", "start", "guide",
                 "left_thumb", "right_thumb", "dpad_up", "dpad_down", "dpad_left", "dpad_right")  # fmt: skip
        for index, name in enumerate(order):
            row, column = divmod(index, 4)
            shapes[name] = ("rect", 54 + column * 28, 18 + row * 18, 24, 14)
    elif family == "keycaps":
        size = (258, 106)
        shapes = {"left_stick": ("stick", 8, 8, 36, 36), "right_stick": ("stick", 8, 58, 36, 36)}
        rows = (
            ("left_trigger", "left_shoulder", "back", "guide", "start", "right_shoulder"),
            ("right_trigger", "dpad_left", "dpad_up", "dpad_down", "dpad_right"),
            ("west", "north", "south", "east", "left_thumb", "right_thumb"),
        )
        for row, names in enumerate(rows):
            for column, name in enumerate(names):
                kind = "bar" if name in gamepad.TRIGGERS else "rect"
                shapes[name] = (kind, 60 + column * 32 + (row % 2) * 8, 8 + row * 32, 28, 24)
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return size, shapes


_PALETTES = (
    ((70, 70, 70), (235, 235, 235), (80, 210, 90), (15, 15, 15)),
    ((40, 40, 90), (200, 200, 255), (255, 200, 40), (10, 10, 30)),
    ((200, 200, 200), (30, 30, 30), (220, 40, 40), (250, 250, 250)),
    ((20, 60, 20), (180, 255, 180), (255, 255, 255), (0, 20, 0)),
    ((90, 30, 90), (255, 180, 255), (40, 220, 255), (25, 0, 25)),
    ((120, 80, 30), (255, 230, 180), (255, 90, 0), (40, 25, 5)),
)


def random_style(seed: int, name: str | None = None) -> OverlayStyle:
    """A style sampled uniformly over families, palettes, effects, opacity 0.3-1, scale 0.5-2 and position."""
    rng = np.random.default_rng(seed)
    base, accent, pressed, panel = _PALETTES[int(rng.integers(len(_PALETTES)))]
    return OverlayStyle(
        name=name or f"random-{seed}",
        family=FAMILIES[int(rng.integers(len(FAMILIES)))],
        base=base,
        accent=accent,
        pressed=pressed,
        panel=panel,
        panel_alpha=float(rng.choice([0.0, 0.4, 0.7, 1.0])),
        filled=bool(rng.integers(2)),
        press_effect=PRESS_EFFECTS[int(rng.integers(len(PRESS_EFFECTS)))],
        opacity=float(rng.uniform(0.3, 1.0)),
        scale=float(rng.uniform(0.5, 2.0)),
        position=(float(rng.uniform(0, 1)), float(rng.uniform(0, 1))),
    )


def preset_styles() -> list[OverlayStyle]:
    """At least 20 named styles covering every family, effect, palette, opacity and scale range."""
    styles = []
    for index in range(24):
        family = FAMILIES[index % len(FAMILIES)]
        effect = PRESS_EFFECTS[(index // len(FAMILIES)) % len(PRESS_EFFECTS)]
        base, accent, pressed, panel = _PALETTES[index % len(_PALETTES)]
        styles.append(
            OverlayStyle(
                name=f"{family}-{effect}-{index:02d}",
                family=family,
                base=base,
                accent=accent,
                pressed=pressed,
                panel=panel,
                panel_alpha=(0.0, 0.5, 0.8, 1.0)[index % 4],
                filled=index % 3 != 0,
                press_effect=effect,
                opacity=0.3 + 0.7 * ((index * 7) % 10) / 9,
                scale=0.5 + 1.5 * ((index * 5) % 8) / 7,
                position=((index * 0.37) % 1.0, (index * 0.61) % 1.0),
            )
        )
    return styles


AnyStyle = OverlayStyle | SpriteStyle
"""A parametric style or a sprite-sheet style (:mod:`.sprite_styles`): both render through
:class:`~.render.OverlayRenderer`."""


class UnknownStyle(DatasetError, ValueError):
    """A style name that no preset has; the message says how to list the names."""


def preset_style(name: str) -> AnyStyle:
    """The preset style called ``name``, or the sprite style ``sprite-<family>-<n>`` (:func:`~.sprite_styles.sprite_style`).

    Raises:
        UnknownStyle: no preset has that name (the closest one is suggested), or a ``sprite-`` name that is
            not ``sprite-<family>-<n>`` (the families are listed).
    """
    if is_sprite_name(name):
        try:
            return sprite_style(name)
        except InvalidOverlayConfig as err:
            raise UnknownStyle(
                f"unknown --style {name!r}: use sprite-<family>-<n>, family one of {', '.join(SPRITE_FAMILIES)}"
            ) from err
    names = [style.name for style in preset_styles()]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownStyle(f"unknown --style {name!r}; {hint}run `nitrogen overlay styles` for the names")
    return preset_styles()[names.index(name)]


def with_placement(style: AnyStyle, scale: float, position: tuple[float, float]) -> AnyStyle:
    """The same look at another size and place."""
    return replace(style, scale=scale, position=position)
