"""Sprite-sheet overlay styles: the input-overlay model of how streamers' overlays are drawn.

A streamer's overlay (e.g. an OBS *input-overlay* preset) is a texture atlas: every element has a released
sprite and a pressed sprite, the d-pad has one sprite per direction, a stick is a base plus a knob sprite
moved by ``travel x axis`` (the knob often larger than its travel), and triggers are bars filled by their
travel or plain buttons. :class:`SpriteStyle` names one such overlay procedurally: a layout family, a
drawing treatment, how pressing shows, and a seed that fixes everything else (palette, outline width,
geometry jitter, glyphs, knob size, trigger mode); the same style always gives the same pixels. The art is
generated, never copied.

:data:`SPRITE_SPLIT` splits the families and treatments: parser training draws only from its ``train``
halves, so evaluation on the ``held_out`` halves measures overlays the parser has never seen.

Example:
    >>> style = sprite_style("sprite-dualshock-5")
    >>> style.family, style.treatment, SPRITE_SPLIT.is_held_out(style)
    ('dualshock', 'sticker', True)
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.style_checks import check_placement

SPRITE_FAMILIES = ("xbox", "switch-pro", "dualsense", "dualshock", "gamecube", "arcade", "keyboard")
"""Layout families: where the elements sit and which sprites draw them (:mod:`.sprite_layouts`)."""
TREATMENTS = ("flat", "gradient", "textured", "hollow", "glossy", "sticker", "neon", "pixel")
"""Drawing treatments: flat fill; linear gradient; noise texture; outline only; radial shading with a
highlight and drop shadow; thick light outline with a drop shadow; dark fill with a glowing outline;
pixel art (drawn at a coarse grid and upscaled without smoothing)."""
SPRITE_PRESS_EFFECTS = ("recolour", "replace", "glow", "shift", "scale", "invert")
"""How a pressed sprite differs from the released one: another colour; another shape; a glow around it;
moved down a few pixels; drawn larger; fill and outline colours swapped."""
SPRITE_PREFIX = "sprite-"
_NAME = re.compile(r"^sprite-(?P<family>[a-z-]+?)-(?P<index>\d{1,6})$")


@dataclass(frozen=True)
class SpriteSplit:
    """Which sprite families and treatments parser training may draw; the rest are held out.

    A style is held out when its family *or* its treatment is, so the held-out set tests both a layout
    the parser never saw and art it never saw on a familiar layout.
    """

    train_families: tuple[str, ...]
    held_out_families: tuple[str, ...]
    train_treatments: tuple[str, ...]
    held_out_treatments: tuple[str, ...]

    def __post_init__(self) -> None:
        if set(self.train_families) & set(self.held_out_families):
            raise InvalidOverlayConfig(f"a family is both trained on and held out: {self}")
        if set(self.train_treatments) & set(self.held_out_treatments):
            raise InvalidOverlayConfig(f"a treatment is both trained on and held out: {self}")

    def is_held_out(self, style: SpriteStyle) -> bool:
        """Whether training must never see ``style``."""
        return style.family in self.held_out_families or style.treatment in self.held_out_treatments


SPRITE_SPLIT = SpriteSplit(
    train_families=("xbox", "switch-pro", "dualsense", "arcade", "keyboard"),
    held_out_families=("dualshock", "gamecube"),
    train_treatments=("flat", "gradient", "textured", "hollow", "glossy", "sticker"),
    held_out_treatments=("neon", "pixel"),
)
"""The one split of sprite families and treatments: the DualShock's separate arrow d-pad and trigger
buttons and the GameCube's asymmetric face buttons and octagonal gates are layouts never trained on; glowing
neon outlines and blocky pixel art are drawing treatments never trained on."""


@dataclass(frozen=True)
class SpriteStyle:
    """A sprite-sheet overlay, fully determined by its fields.

    Args:
        name: style id (``sprite-<family>-<n>`` for the named ones).
        family: layout family, one of :data:`SPRITE_FAMILIES`.
        treatment: drawing treatment, one of :data:`TREATMENTS`.
        press_effect: how pressed sprites differ, one of :data:`SPRITE_PRESS_EFFECTS`.
        seed: fixes the palette, outline width, geometry jitter, glyphs, knob size and trigger mode.
        opacity: overall overlay opacity when composited (0.3-1.0).
        scale: size relative to the template (0.5-2.0).
        position: (x, y) of the overlay's top-left corner as a fraction of the free frame area.
    """

    name: str
    family: str = "xbox"
    treatment: str = "flat"
    press_effect: str = "recolour"
    seed: int = 0
    opacity: float = 1.0
    scale: float = 1.0
    position: tuple[float, float] = (0.02, 0.7)

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("family", self.family, SPRITE_FAMILIES),
            ("treatment", self.treatment, TREATMENTS),
            ("press_effect", self.press_effect, SPRITE_PRESS_EFFECTS),
        ):
            if value not in allowed:
                raise InvalidOverlayConfig(f"{field} must be one of {allowed}, got {value!r}")
        check_placement(self.opacity, self.scale, self.position)

    @property
    def base(self) -> tuple[int, int, int]:
        """RGB of the released sprites' fill (drawn from the seed)."""
        from nitrogen_datasets.overlay.sprites import sample_look

        return sample_look(self).released


def is_sprite_name(name: str) -> bool:
    """Whether ``name`` asks for a sprite style (``sprite-...``)."""
    return name.startswith(SPRITE_PREFIX)


def sprite_style(name: str) -> SpriteStyle:
    """The named sprite style ``sprite-<family>-<n>`` (any n from 0 to 999999).

    ``n`` cycles through the treatments and press effects and fixes the seed, opacity (0.3-1), scale
    (0.5-2) and position the way the parametric presets do, so ``sprite-<family>-0`` to ``-7`` show every
    treatment of a family.

    Raises:
        InvalidOverlayConfig: not of that form, or an unknown family (the message lists the families).
    """
    match = _NAME.match(name)
    if match is None or match.group("family") not in SPRITE_FAMILIES:
        raise InvalidOverlayConfig(
            f"sprite style {name!r} is not sprite-<family>-<n>; families are {', '.join(SPRITE_FAMILIES)} "
            f"(e.g. sprite-{SPRITE_FAMILIES[1]}-3)"
        )
    family, index = match.group("family"), int(match.group("index"))
    return SpriteStyle(
        name=name,
        family=family,
        treatment=TREATMENTS[index % len(TREATMENTS)],
        press_effect=SPRITE_PRESS_EFFECTS[(index + index // len(TREATMENTS)) % len(SPRITE_PRESS_EFFECTS)],
        seed=zlib.crc32(name.encode()),
        opacity=round(0.3 + 0.7 * ((index * 7 + 9) % 10) / 9, 4),
        scale=round(0.5 + 1.5 * ((index * 5 + 3) % 8) / 7, 4),
        position=((index * 0.37) % 1.0, (index * 0.61) % 1.0),
    )


def named_sprite_styles(held_out: bool | None = None, per_family: int = len(TREATMENTS)) -> list[SpriteStyle]:
    """The named styles ``sprite-<family>-<n>`` for n < ``per_family`` of every family.

    With ``held_out`` true (false), only the held-out (trained-on) ones of :data:`SPRITE_SPLIT`.
    """
    styles = [sprite_style(f"{SPRITE_PREFIX}{family}-{n}") for family in SPRITE_FAMILIES for n in range(per_family)]
    if held_out is None:
        return styles
    return [style for style in styles if SPRITE_SPLIT.is_held_out(style) == held_out]


def training_sprite_style(rng: np.random.Generator, split: SpriteSplit = SPRITE_SPLIT) -> SpriteStyle:
    """A random sprite style for parser training: only ``split``'s train families and treatments."""
    return SpriteStyle(
        name="train-sprite",
        family=split.train_families[int(rng.integers(len(split.train_families)))],
        treatment=split.train_treatments[int(rng.integers(len(split.train_treatments)))],
        press_effect=SPRITE_PRESS_EFFECTS[int(rng.integers(len(SPRITE_PRESS_EFFECTS)))],
        seed=int(rng.integers(2**31)),
        # As the parametric training styles: half faint (30-60%), where most errors are.
        opacity=float(rng.uniform(0.3, 0.6) if rng.random() < 0.5 else rng.uniform(0.3, 1.0)),
        scale=float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))),
    )
