"""Where each element of a sprite overlay sits: one geometry per layout family, jittered by the style's seed.

Each family places its elements the way the controller (or keyboard) does, not the Xbox way: a Switch
Pro's Nintendo face letters and +/- buttons, a DualSense's touchpad and low symmetric sticks, a
DualShock's four separate arrow buttons, a GameCube's big A with small B and kidney X/Y around it and
octagonal gates, an arcade stick's eight buttons in two rows beside a ball-top lever, a keyboard's WASD
keycaps beside a mouse. The seed moves each group of elements a few pixels, resizes elements by up to
about 12%, and picks the knob radius (1.2-2.5x its travel), so no two styles of a family share a layout.
Coordinates are integer template pixels; the template is sized to fit every sprite and glow with a margin,
and never larger than :data:`MAX_TEMPLATE` (so every style at scale 2 fits a 640x360 frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MAX_TEMPLATE = (300, 170)
"""Largest (width, height) of a sprite template at scale 1."""
MARGIN = 10
"""Template pixels kept around the outermost sprite, for glow, shadows and pressed sprites drawn larger."""
KNOB_TO_TRAVEL = (1.2, 2.5)
"""Range of a knob sprite's radius over its travel radius: real presets draw knobs larger than their travel."""
MIN_TRAVEL = 6
"""Smallest stick travel radius in template pixels (3 px at scale 0.5)."""


@dataclass(frozen=True)
class SpriteElement:
    """One element's sprite in template pixels.

    Args:
        name: gamepad element (a button, trigger or stick of :data:`~.layout.ELEMENT_NAMES`).
        role: ``button``, ``dpad``, ``trigger`` or ``stick``.
        kind: sprite shape (see :func:`~.sprite_paint.shape_mask`); for a stick, the base's shape.
        x, y, w, h: the sprite's box; for a stick, the base's box (centred on the stick's centre).
        glyph: label drawn on the sprite (text, or ``@cross``/``@circle``/``@square``/``@triangle``).
        travel: stick only: how far the knob centre moves at full deflection.
        knob: stick only: the knob sprite's radius.
        knob_kind: stick only: the knob's shape (``circle``, ``ring``, ``ball`` or ``dot``).
    """

    name: str
    role: str
    kind: str
    x: int
    y: int
    w: int
    h: int
    glyph: str = ""
    travel: int = 0
    knob: int = 0
    knob_kind: str = "circle"

    @property
    def center(self) -> tuple[int, int]:
        """Integer (x, y) centre (stick bases have even sides, so the knob's rest is a whole pixel)."""
        return self.x + self.w // 2, self.y + self.h // 2

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The layout box (x, y, w, h): the sprite's box, or a stick's knob-centre sweep square."""
        if self.role != "stick":
            return self.x, self.y, self.w, self.h
        cx, cy = self.center
        return cx - self.travel, cy - self.travel, 2 * self.travel, 2 * self.travel


@dataclass(frozen=True)
class Decoration:
    """A static sprite of the rest image (touchpad, light bar, d-pad hub, body): it never changes."""

    kind: str
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class SpriteGeometry:
    """A family's geometry for one seed: template (width, height), elements, decorations and body shape."""

    template_size: tuple[int, int]
    elements: tuple[SpriteElement, ...]
    decorations: tuple[Decoration, ...]


# ---- nominal placements: float centres and sizes, before fitting ----------------------------------------
@dataclass(frozen=True)
class _Nominal:
    """An element (or, with role ``deco``, a decoration) by float centre and size, before fitting."""

    name: str
    role: str
    kind: str
    cx: float
    cy: float
    w: float
    h: float
    glyph: str = ""
    travel: float = 0.0
    knob: float = 0.0
    knob_kind: str = "circle"


class _Builder:
    """Collects elements by centre and size; each group gets its own jitter from the seed."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.items: list[_Nominal] = []
        self.offset = (0.0, 0.0)

    def group(self, spread: float = 4.0) -> None:
        """Start a group of elements that move together by up to ``spread`` pixels."""
        dx, dy = self.rng.uniform(-spread, spread, 2)
        self.offset = (float(dx), float(dy))

    def size(self, value: float) -> float:
        return value * float(self.rng.uniform(0.88, 1.12))

    def add(
        self,
        name: str,
        role: str,
        kind: str,
        cx: float,
        cy: float,
        w: float,
        h: float,
        glyph: str = "",
        jitter: bool = True,
    ) -> None:
        """One element centred at (cx, cy) of the current group, its size jittered unless ``jitter`` is off."""
        ox, oy = self.offset
        if jitter:
            w, h = self.size(w), self.size(h)
        self.items.append(_Nominal(name, role, kind, cx + ox, cy + oy, w, h, glyph))

    def deco(self, kind: str, cx: float, cy: float, w: float, h: float) -> None:
        """A static decoration of the current group."""
        ox, oy = self.offset
        self.items.append(_Nominal("", "deco", kind, cx + ox, cy + oy, w, h))

    def stick(
        self, name: str, cx: float, cy: float, base: str = "circle", knob_kind: str = "circle", tall: float = 1.0
    ) -> None:
        """A stick: base radius = travel + knob + gate (``tall`` times higher); the knob is 1.2-2.5x the travel."""
        ox, oy = self.offset
        knob = float(self.rng.uniform(9.0, 15.0))
        travel = max(MIN_TRAVEL, knob / float(self.rng.uniform(*KNOB_TO_TRAVEL)))
        radius = travel + knob + float(self.rng.uniform(2.0, 5.0))
        self.items.append(
            _Nominal(name, "stick", base, cx + ox, cy + oy, 2 * radius, 2 * radius * tall, "", travel, knob, knob_kind)
        )

    def face(self, cx: float, cy: float, spacing: float, radius: float, glyphs: tuple[str, str, str, str]) -> None:
        """Four face buttons in a diamond: south, east, west, north."""
        self.group()
        radius = self.size(radius)
        spacing = max(self.size(spacing), 2 * radius + 2)  # neighbours' boxes stay apart
        for name, (dx, dy), glyph in zip(
            ("south", "east", "west", "north"), ((0, 1), (1, 0), (-1, 0), (0, -1)), glyphs, strict=True
        ):
            side = 2 * radius
            self.add(name, "button", "circle", cx + dx * spacing, cy + dy * spacing, side, side, glyph, jitter=False)

    def dpad(
        self, cx: float, cy: float, arm: float, width: float, gap: float, kind: str = "arm", hub: bool = True
    ) -> None:
        """Four d-pad sprites around a centre, one per direction (``arm``: a cross; ``arrow``: separate keys)."""
        self.group()
        arm, width = self.size(arm), self.size(width)
        gap = max(gap, width / 2 + 1)  # the pieces' boxes meet at the hub but never overlap
        for name, (dx, dy) in (
            ("dpad_up", (0, -1)),
            ("dpad_down", (0, 1)),
            ("dpad_left", (-1, 0)),
            ("dpad_right", (1, 0)),
        ):
            distance = gap + arm / 2
            w, h = (width, arm) if dx == 0 else (arm, width)
            self.add(name, "dpad", f"{kind}-{name[5:]}", cx + dx * distance, cy + dy * distance, w, h, jitter=False)
        if hub:
            self.deco("rect", cx, cy, 2 * gap, 2 * gap)

    def pair(
        self,
        names: tuple[str, str],
        role: str,
        kind: str,
        xs: tuple[float, float],
        cy: float,
        w: float,
        h: float,
        glyphs: tuple[str, str] = ("", ""),
    ) -> None:
        """Two mirrored elements (shoulders, triggers, menu buttons) moved together."""
        self.group(3.0)
        w, h = self.size(w), self.size(h)
        for name, cx, glyph in zip(names, xs, glyphs, strict=True):
            self.add(name, role, kind, cx, cy, w, h, glyph)


def _triggers(b: _Builder, xs: tuple[float, float], cy: float, glyphs: tuple[str, str], as_buttons: bool) -> None:
    kind = "trigger" if as_buttons else "bar"
    w, h = (30, 18) if as_buttons else (48, 14)
    b.pair(("left_trigger", "right_trigger"), "trigger", kind, xs, cy, w, h, glyphs)


def _xbox(b: _Builder) -> None:
    _triggers(b, (62, 228), 12, ("LT", "RT"), as_buttons=False)
    b.pair(("left_shoulder", "right_shoulder"), "button", "pill", (62, 228), 32, 56, 12, ("LB", "RB"))
    b.group()
    b.stick("left_stick", 62, 84)
    b.face(228, 84, 19, 9, ("A", "B", "X", "Y"))
    b.dpad(104, 138, 13, 11, 5)
    b.group()
    b.stick("right_stick", 186, 138)
    b.pair(("back", "start"), "button", "pill", (126, 164), 78, 14, 9)
    b.group(2.0)
    b.add("guide", "button", "circle", 145, 54, 16, 16, "X")


def _switch_pro(b: _Builder) -> None:
    _triggers(b, (60, 230), 12, ("ZL", "ZR"), as_buttons=bool(b.rng.integers(2)))
    b.pair(("left_shoulder", "right_shoulder"), "button", "round", (60, 230), 34, 54, 12, ("L", "R"))
    b.group()
    b.stick("left_stick", 60, 86)
    b.face(230, 86, 19, 9, ("B", "A", "Y", "X"))
    b.dpad(104, 140, 12, 12, 6, kind="arrow", hub=False)
    b.group()
    b.stick("right_stick", 186, 140, knob_kind="ring")
    b.pair(("back", "start"), "button", "circle", (122, 168), 62, 11, 11, ("-", "+"))
    b.group(2.0)
    b.add("guide", "button", "circle", 158, 88, 14, 14)


def _dualsense(b: _Builder) -> None:
    _triggers(b, (56, 234), 12, ("L2", "R2"), as_buttons=bool(b.rng.integers(2)))
    b.pair(("left_shoulder", "right_shoulder"), "button", "pill", (56, 234), 32, 50, 11, ("L1", "R1"))
    b.dpad(56, 86, 13, 12, 5, hub=False)
    b.face(234, 86, 19, 9, ("@cross", "@circle", "@square", "@triangle"))
    b.group(2.0)
    b.deco("round", 145, 66, 76, 40)  # the touchpad
    b.pair(("back", "start"), "button", "pill", (96, 194), 58, 7, 14)
    b.group()
    b.stick("left_stick", 106, 132)
    b.group()
    b.stick("right_stick", 184, 132)
    b.group(2.0)
    b.add("guide", "button", "circle", 145, 110, 12, 12)


def _dualshock(b: _Builder) -> None:
    _triggers(b, (58, 232), 12, ("L2", "R2"), as_buttons=True)
    b.pair(("left_shoulder", "right_shoulder"), "button", "rect", (58, 232), 36, 54, 10, ("L1", "R1"))
    b.dpad(58, 88, 14, 12, 7, kind="arrow", hub=False)
    b.face(232, 88, 20, 10, ("@cross", "@circle", "@square", "@triangle"))
    b.group(2.0)
    b.deco("rect", 145, 62, 64, 34)  # the touchpad
    b.deco("pill", 145, 28, 56, 5)  # the light bar
    b.pair(("back", "start"), "button", "pill", (102, 188), 54, 7, 12)
    b.group()
    b.stick("left_stick", 104, 134, knob_kind="ring")
    b.group()
    b.stick("right_stick", 186, 134, knob_kind="ring")
    b.group(2.0)
    b.add("guide", "button", "circle", 145, 100, 12, 12)


def _gamecube(b: _Builder) -> None:
    _triggers(b, (60, 228), 12, ("L", "R"), as_buttons=False)
    b.group()
    b.add("right_shoulder", "button", "pill", 228, 32, 40, 10, "Z")
    b.group()
    b.stick("left_stick", 60, 82, base="octagon")
    b.group()
    b.add("south", "button", "circle", 226, 92, 26, 26, "A")
    b.add("west", "button", "circle", 198, 108, 14, 14, "B")
    b.add("east", "button", "pill", 256, 86, 12, 28, "X")
    b.add("north", "button", "pill", 222, 64, 28, 12, "Y")
    b.dpad(100, 140, 10, 9, 4)
    b.group()
    b.stick("right_stick", 184, 140, base="octagon", knob_kind="dot")
    b.group(2.0)
    b.add("start", "button", "circle", 145, 92, 12, 12)


def _arcade(b: _Builder) -> None:
    b.group()
    b.stick("left_stick", 62, 92, base="rect", knob_kind="ball")
    b.group()
    rows = (("west", "north", "right_shoulder", "left_shoulder"), ("south", "east", "right_trigger", "left_trigger"))
    labels = ((("X", "Y", "RB", "LB"), ("A", "B", "RT", "LT")), (("1", "2", "3", "4"), ("5", "6", "7", "8")))
    glyphs = labels[int(b.rng.integers(2))]
    radius, step = 11, b.size(30)
    for row, names in enumerate(rows):
        for column, name in enumerate(names):
            role = "trigger" if name in ("left_trigger", "right_trigger") else "button"
            kind = "circle"
            cx = 138 + column * step + (6 if row == 0 else 0) - row * 4
            cy = 74 + row * 36 - (8 if column in (1, 2) else 0)  # the curved Vewlix rows
            b.add(name, role, kind, cx, cy, 2 * radius, 2 * radius, glyphs[row][column])
    b.pair(("back", "start"), "button", "round", (210, 246), 24, 20, 10)
    b.group(2.0)
    b.add("guide", "button", "circle", 174, 24, 12, 12)


def _keyboard(b: _Builder) -> None:
    key = b.size(24)
    gap = key + 4
    wide = 1.5 * key
    left = wide / 2  # centre of the wide keys' column (Tab, Esc, Shift)
    first = wide + 4 + key / 2  # centre of the first letter column
    b.group()
    rows = (
        ("back", "north", "dpad_up", "west", "right_shoulder"),
        ("start", "dpad_left", "dpad_down", "dpad_right", "east"),
    )
    glyphs = (("Tab", "Q", "W", "E", "R"), ("Esc", "A", "S", "D", "F"))
    for row, (names, labels) in enumerate(zip(rows, glyphs, strict=True)):
        for column, (name, glyph) in enumerate(zip(names, labels, strict=True)):
            role = "dpad" if name.startswith("dpad") else "button"
            cx = left if column == 0 else first + (column - 1) * gap
            b.add(name, role, "keycap", cx, 40 + row * gap, wide if column == 0 else key, key, glyph)
    b.add("left_shoulder", "button", "keycap", left, 40 + 2 * gap, wide, key, "Sh")
    b.add("south", "button", "keycap", first + 1.5 * gap, 40 + 2 * gap, 3 * gap, key, "Space")
    b.group()
    b.stick(
        "right_stick", first + 5 * gap + 12, 92, base="pill", knob_kind="dot", tall=1.4
    )  # the mouse: moving it moves the dot
    b.pair(
        ("left_trigger", "right_trigger"),
        "trigger",
        "keycap",
        (first + 4.5 * gap + 12, first + 5.5 * gap + 12),
        36,
        22,
        26,
        ("L", "R"),
    )


FAMILY_BUILDERS: dict[str, Callable[[_Builder], None]] = {
    "xbox": _xbox,
    "switch-pro": _switch_pro,
    "dualsense": _dualsense,
    "dualshock": _dualshock,
    "gamecube": _gamecube,
    "arcade": _arcade,
    "keyboard": _keyboard,
}


def sprite_geometry(family: str, seed: int) -> SpriteGeometry:
    """The family's elements jittered by ``seed``, fitted into a template of at most :data:`MAX_TEMPLATE`."""
    builder = _Builder(np.random.default_rng([seed, 0x5EED]))
    FAMILY_BUILDERS[family](builder)
    return _fit(builder.items)


def _fit(items: list[_Nominal]) -> SpriteGeometry:
    """Move and (only when too large) shrink the nominal items into integer boxes inside the template."""
    x0 = min(i.cx - i.w / 2 for i in items)
    y0 = min(i.cy - i.h / 2 for i in items)
    x1 = max(i.cx + i.w / 2 for i in items)
    y1 = max(i.cy + i.h / 2 for i in items)
    room_w, room_h = MAX_TEMPLATE[0] - 2 * MARGIN, MAX_TEMPLATE[1] - 2 * MARGIN
    factor = min(1.0, room_w / (x1 - x0), room_h / (y1 - y0))
    elements, decorations = [], []
    for item in items:
        w, h = max(2, round(item.w * factor)), max(2, round(item.h * factor))
        if item.role == "stick":  # even sides keep the stick's centre, x + w / 2, on a whole pixel
            w, h = w + w % 2, h + h % 2
        x = max(0, round(MARGIN + (item.cx - x0) * factor - w / 2))
        y = max(0, round(MARGIN + (item.cy - y0) * factor - h / 2))
        if item.role == "deco":
            decorations.append(Decoration(item.kind, x, y, w, h))
            continue
        travel = max(MIN_TRAVEL // 2, round(item.travel * factor)) if item.role == "stick" else 0
        knob = max(travel + 1, round(item.knob * factor)) if item.role == "stick" else 0
        elements.append(
            SpriteElement(item.name, item.role, item.kind, x, y, w, h, item.glyph, travel, knob, item.knob_kind)
        )
    boxes = [(e.x, e.y, e.w, e.h) for e in elements] + [(d.x, d.y, d.w, d.h) for d in decorations]
    right, bottom = max(x + w for x, _, w, _ in boxes), max(y + h for _, y, _, h in boxes)
    size = (min(MAX_TEMPLATE[0], right + MARGIN), min(MAX_TEMPLATE[1], bottom + MARGIN))
    return SpriteGeometry(size, tuple(elements), tuple(decorations))
