"""Table-driven translation between the unified gamepad and a game's own (native) actions.

Every embedded game declares a table of :class:`Binding` rows, one per native action (or native
button). A gamepad action is first reduced to :class:`Controls` — a digital move direction, a digital
look direction and the set of pressed inputs — and then matched against the table. Tables, not chains
of ``if``, so that the mapping is data that ``nitrogen info`` can print and tests can round-trip.

Reduction rules (shared by every game, so a policy learns one convention):

* ``move`` comes from the left stick: an axis counts when ``|value| >= STICK_DEADZONE`` (0.5); the
  d-pad adds the same directions (stick wins when both disagree). +y is up.
* ``look`` comes from the right stick with the same dead zone.
* ``inputs`` holds the pressed button names plus the trigger names (:data:`gamepad.TRIGGERS`) of the
  triggers at or past :data:`gamepad.BUTTON_THRESHOLD` (0.5). D-pad buttons are folded into ``move``
  (pressed at the same threshold) and not listed.

Matching (as Procgen's ``keys_to_act``): a row matches when every non-zero component of its move/look
equals the controls' and all its inputs are pressed. The most specific matching row wins (two points
per input, one per non-zero direction component); ties go to the earlier row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nitrogen_envs import gamepad

STICK_DEADZONE = 0.5
"""A stick axis counts as pushed in a direction when its magnitude reaches this value."""

Direction = tuple[int, int]
_DPAD = {"dpad_left": (-1, 0), "dpad_right": (1, 0), "dpad_up": (0, 1), "dpad_down": (0, -1)}
MAX_CACHED_CONTROLS = 65536
"""Most distinct control readings a table memoizes; later ones are matched on every call instead.

A game table sees few distinct readings in play (an agent presses a handful of combinations), but the
space is 9 x 9 directions x 2**13 input sets (about 660,000), which a uniformly random policy walks
through. The cap keeps a long random rollout from growing the cache without bound (an entry costs
about 700 bytes, measured with tracemalloc over uniformly random actions, so at most about 45 MB per table)
while every realistic agent stays fully cached.
"""


MAX_CACHED_ACTIONS = 1024
"""Most exact actions (:func:`gamepad.fingerprint`) a table or an env memoizes.

An agent with a discrete repertoire repeats a few dozen exact actions, each then costs one dict lookup;
a policy with continuous sticks rarely repeats one, so the cap (an entry is well under 1 kB) keeps such
a run from growing the memo, and its actions take the ordinary path.
"""


@dataclass(frozen=True)
class Controls:
    """The digital reading of a gamepad action that the game tables match against."""

    move: Direction = (0, 0)
    look: Direction = (0, 0)
    inputs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Binding:
    """One native action (or native button) and the gamepad input that produces it.

    Args:
        native: the game's name for the action, e.g. ``"RIGHTFIRE"`` or ``"MOVE_FORWARD"``.
        move: left-stick direction, components in {-1, 0, 1}; (0, 0) means "not used".
        look: right-stick direction, same convention.
        inputs: button names (from :data:`nitrogen_envs.gamepad.BUTTON_NAMES`) or trigger names.
        meaning: a short human description shown in ``nitrogen info``.
    """

    native: str
    move: Direction = (0, 0)
    look: Direction = (0, 0)
    inputs: tuple[str, ...] = ()
    meaning: str = ""

    def __post_init__(self) -> None:
        for name in self.inputs:
            if name not in gamepad.BUTTON_NAMES and name not in gamepad.TRIGGERS:
                raise ValueError(f"binding {self.native!r} uses unknown input {name!r}")
        for direction in (self.move, self.look):
            if any(component not in (-1, 0, 1) for component in direction):
                raise ValueError(f"binding {self.native!r} has a direction outside {{-1, 0, 1}}: {direction}")

    @property
    def specificity(self) -> int:
        """Two points per input, one per non-zero direction component."""
        return 2 * len(self.inputs) + sum(c != 0 for c in self.move) + sum(c != 0 for c in self.look)

    def matches(self, controls: Controls) -> bool:
        """Whether the controls contain everything this binding asks for."""
        if not set(self.inputs) <= controls.inputs:
            return False
        for wanted, got in ((self.move, controls.move), (self.look, controls.look)):
            for want, have in zip(wanted, got, strict=False):
                if want != 0 and want != have:
                    return False
        return True

    def describe(self) -> str:
        """Readable gamepad input, e.g. ``"left stick right + south"``."""
        parts = []
        if self.move != (0, 0):
            parts.append(f"left stick {_direction_word(self.move)}")
        if self.look != (0, 0):
            parts.append(f"right stick {_direction_word(self.look)}")
        parts.extend(self.inputs)
        return " + ".join(parts) if parts else "(nothing pressed)"


def _direction_word(direction: Direction) -> str:
    horizontal = {-1: "left", 0: "", 1: "right"}[direction[0]]
    vertical = {-1: "down", 0: "", 1: "up"}[direction[1]]
    return "-".join(word for word in (vertical, horizontal) if word)


def _axis(value: float) -> int:
    if value >= STICK_DEADZONE:
        return 1
    if value <= -STICK_DEADZONE:
        return -1
    return 0


_DPAD_INDEX = {name: gamepad.BUTTON_NAMES.index(name) for name in _DPAD}
_DPAD_SET = frozenset(_DPAD_INDEX.values())
# Local names for the per-step reader (a module global is a cheaper lookup than an attribute).
_PRESSED = gamepad.BUTTON_THRESHOLD
_LEFT_TRIGGER, _RIGHT_TRIGGER = gamepad.TRIGGERS


def read_controls(action: Mapping[str, Any]) -> Controls:
    """Reduce a validated Dict-space gamepad action to digital :class:`Controls`."""
    move, look, inputs = _read_key(action)
    return Controls(move=move, look=look, inputs=inputs)


def _read_key(action: Mapping[str, Any]) -> tuple[Direction, Direction, frozenset[str]]:
    """(move, look, inputs) as a plain tuple: cheap to build and to hash on every step."""
    left = action["left_stick"]
    right = action["right_stick"]
    buttons = action["buttons"]
    move_x, move_y = _axis(float(left[0])), _axis(float(left[1]))
    if not move_x:
        move_x = int(buttons[_DPAD_INDEX["dpad_right"]] >= _PRESSED) - int(
            buttons[_DPAD_INDEX["dpad_left"]] >= _PRESSED
        )
    if not move_y:
        move_y = int(buttons[_DPAD_INDEX["dpad_up"]] >= _PRESSED) - int(buttons[_DPAD_INDEX["dpad_down"]] >= _PRESSED)
    pressed = buttons.nonzero()[0] if isinstance(buttons, np.ndarray) else np.flatnonzero(np.asarray(buttons))
    inputs = {gamepad.BUTTON_NAMES[i] for i in pressed.tolist() if i not in _DPAD_SET}
    triggers = action["triggers"]
    if float(triggers[0]) >= _PRESSED:
        inputs.add(_LEFT_TRIGGER)
    if float(triggers[1]) >= _PRESSED:
        inputs.add(_RIGHT_TRIGGER)
    return (move_x, move_y), (_axis(float(right[0])), _axis(float(right[1]))), frozenset(inputs)


def binding_to_gamepad(binding: Binding) -> gamepad.GamepadDict:
    """The canonical gamepad action producing ``binding``: full stick deflection, inputs fully pressed."""
    action = gamepad.noop()
    action["left_stick"] = np.asarray(binding.move, dtype=np.float32)
    action["right_stick"] = np.asarray(binding.look, dtype=np.float32)
    for name in binding.inputs:
        if name in gamepad.TRIGGERS:
            action["triggers"][gamepad.TRIGGERS.index(name)] = 1.0
        else:
            action["buttons"][gamepad.BUTTON_NAMES.index(name)] = 1
    return action


@dataclass(frozen=True)
class ChoiceTable:
    """A game whose native action is one choice out of a list (Procgen, Atari, Crafter).

    Args:
        bindings: one row per native action index, in the engine's index order.
        noop_index: the native index used when no row matches.
    """

    bindings: tuple[Binding, ...]
    noop_index: int = 0
    _order: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _cache: dict[tuple, int] = field(init=False, repr=False, compare=False)
    _exact: dict[tuple, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Most specific first; stable sort keeps table order on ties.
        order = sorted(range(len(self.bindings)), key=lambda i: -self.bindings[i].specificity)
        object.__setattr__(self, "_order", tuple(order))
        # Few distinct readings occur in play, so matching is memoized (up to MAX_CACHED_CONTROLS), and
        # so are the exact actions of an agent's repertoire (up to MAX_CACHED_ACTIONS), which skips reading.
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_exact", {})

    @property
    def names(self) -> list[str]:
        """Native action names in index order."""
        return [binding.native for binding in self.bindings]

    def to_native(self, action: Mapping[str, Any]) -> int:
        """Index of the native action for a validated gamepad action."""
        exact = gamepad.fingerprint(action)
        if exact is not None:
            hit = self._exact.get(exact)
            if hit is not None:
                return hit
        key = _read_key(action)
        result = self._cache.get(key)
        if result is None:
            controls = Controls(*key)
            result = next((i for i in self._order if self.bindings[i].matches(controls)), self.noop_index)
            if len(self._cache) < MAX_CACHED_CONTROLS:
                self._cache[key] = result
        if exact is not None and len(self._exact) < MAX_CACHED_ACTIONS:
            self._exact[exact] = result
        return result

    def to_gamepad(self, native: int) -> gamepad.GamepadDict:
        """Canonical gamepad action for native action ``native``."""
        if not 0 <= int(native) < len(self.bindings):
            raise ValueError(f"native action {native} is out of range [0, {len(self.bindings) - 1}]")
        return binding_to_gamepad(self.bindings[int(native)])

    def rows(self) -> list[tuple[str, str, str]]:
        """(index, native name, gamepad input) rows for documentation."""
        return [(str(i), b.native, b.describe()) for i, b in enumerate(self.bindings)]


@dataclass(frozen=True)
class ButtonTable:
    """A game whose native action is a set of simultaneously held buttons (ViZDoom).

    Each native button is held when its binding matches, independently of the others.
    """

    bindings: tuple[Binding, ...]
    _cache: dict[tuple, list[int]] = field(init=False, repr=False, compare=False)
    _exact: dict[tuple, list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_exact", {})

    @property
    def names(self) -> list[str]:
        """Native button names in the engine's order."""
        return [binding.native for binding in self.bindings]

    def to_native(self, action: Mapping[str, Any]) -> list[int]:
        """0/1 per native button for a validated gamepad action."""
        exact = gamepad.fingerprint(action)
        held = self._exact.get(exact) if exact is not None else None
        if held is None:
            key = _read_key(action)
            held = self._cache.get(key)
            if held is None:
                controls = Controls(*key)
                held = [int(b.matches(controls) and b.specificity > 0) for b in self.bindings]
                if len(self._cache) < MAX_CACHED_CONTROLS:
                    self._cache[key] = held
            if exact is not None and len(self._exact) < MAX_CACHED_ACTIONS:
                self._exact[exact] = held
        return list(held)

    def to_gamepad(self, held: Sequence[int]) -> gamepad.GamepadDict:
        """Canonical gamepad action holding the given native buttons."""
        if len(held) != len(self.bindings):
            raise ValueError(f"expected {len(self.bindings)} native button values, got {len(held)}")
        action = gamepad.noop()
        for binding, value in zip(self.bindings, held, strict=False):
            if not value:
                continue
            part = binding_to_gamepad(binding)
            for key in ("left_stick", "right_stick"):
                action[key] = np.where(part[key] != 0, part[key], action[key]).astype(np.float32)
            action["triggers"] = np.maximum(action["triggers"], part["triggers"])
            action["buttons"] = np.maximum(action["buttons"], part["buttons"])
        return action

    def rows(self) -> list[tuple[str, str, str]]:
        """(index, native name, gamepad input) rows for documentation."""
        return [(str(i), b.native, b.describe()) for i, b in enumerate(self.bindings)]
