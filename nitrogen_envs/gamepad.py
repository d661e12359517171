"""The unified gamepad action: the single source of truth for every game, dataset and policy.

Every NitroGen environment, dataset column and model output speaks this schema. Nothing else in the
code base retypes a button list: import the constants from here.

Layout of the canonical flat vector (21 float32 values, ``FLAT_NAMES`` order):

====== ============================================= =========
index  names                                          range
====== ============================================= =========
0-3    ``left_x left_y right_x right_y``              [-1, 1], +y is up
4-5    ``left_trigger right_trigger``                 [0, 1]
6-20   the 15 buttons in ``BUTTON_NAMES`` order       {0, 1} (pressed when >= 0.5)
====== ============================================= =========

The environments' native action space is a :class:`gymnasium.spaces.Dict` with the keys
``left_stick`` (2,), ``right_stick`` (2,), ``triggers`` (2,) and ``buttons`` (15,) MultiBinary.

Example:
    >>> vec = to_flat({"buttons": {"south": 1}, "left_stick": (0.5, -1.0)})
    >>> vec.shape, float(vec[FLAT_NAMES.index("left_y")]), float(vec[FLAT_NAMES.index("south")])
    ((21,), -1.0, 1.0)
    >>> from_flat(vec)["left_stick"].tolist()
    [0.5, -1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

SCHEMA_VERSION = 1
"""Bumped whenever names, order or ranges below change; stored in datasets and policy configs."""

STICK_AXES: tuple[str, ...] = ("left_x", "left_y", "right_x", "right_y")
TRIGGERS: tuple[str, ...] = ("left_trigger", "right_trigger")
BUTTON_NAMES: tuple[str, ...] = (
    "south",
    "east",
    "west",
    "north",
    "left_shoulder",
    "right_shoulder",
    "back",
    "start",
    "guide",
    "left_thumb",
    "right_thumb",
    "dpad_up",
    "dpad_down",
    "dpad_left",
    "dpad_right",
)
FLAT_NAMES: tuple[str, ...] = STICK_AXES + TRIGGERS + BUTTON_NAMES
FLAT_SIZE = len(FLAT_NAMES)  # 21
BUTTON_THRESHOLD = 0.5
"""A button value >= this counts as pressed (flat vectors carry floats, e.g. from a policy)."""

STICK_SLICE = slice(0, 4)
TRIGGER_SLICE = slice(4, 6)
BUTTON_SLICE = slice(6, FLAT_SIZE)

FLAT_LOW = np.array([-1.0] * 4 + [0.0] * 17, dtype=np.float32)
FLAT_HIGH = np.ones(FLAT_SIZE, dtype=np.float32)

DICT_KEYS: tuple[str, ...] = ("left_stick", "right_stick", "triggers", "buttons")

GamepadDict = dict[str, np.ndarray]


def dict_space() -> spaces.Dict:
    """Build the Gymnasium space every NitroGen environment accepts.

    Returns:
        ``Dict(left_stick=Box(-1, 1, (2,)), right_stick=Box(-1, 1, (2,)), triggers=Box(0, 1, (2,)),
        buttons=MultiBinary(15))``.
    """
    return spaces.Dict(
        {
            "left_stick": spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
            "right_stick": spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32),
            "triggers": spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32),
            "buttons": spaces.MultiBinary(len(BUTTON_NAMES)),
        }
    )


def flat_space() -> spaces.Box:
    """Box(21,) float32 with sticks in [-1, 1] and triggers/buttons in [0, 1]."""
    return spaces.Box(FLAT_LOW.copy(), FLAT_HIGH.copy(), dtype=np.float32)


def noop() -> GamepadDict:
    """The neutral action: sticks centred, triggers released, no button pressed."""
    return {
        "left_stick": np.zeros(2, dtype=np.float32),
        "right_stick": np.zeros(2, dtype=np.float32),
        "triggers": np.zeros(2, dtype=np.float32),
        "buttons": np.zeros(len(BUTTON_NAMES), dtype=np.int8),
    }


def noop_flat() -> np.ndarray:
    """The neutral action as a flat (21,) float32 vector."""
    return np.zeros(FLAT_SIZE, dtype=np.float32)


def _check_range(field: str, values: np.ndarray, low: float, high: float) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError(
            f"gamepad field {field!r} contains NaN or inf ({values.tolist()}); allowed range is [{low}, {high}]"
        )
    bad = (values < low) | (values > high)
    if np.any(bad):
        raise ValueError(
            f"gamepad field {field!r} is out of range: got {values.tolist()}, allowed range is [{low}, {high}]"
        )


def _as_array(field: str, value: Any, size: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"gamepad field {field!r} must be numeric, got {value!r}") from err
    if array.shape != (size,):
        raise ValueError(f"gamepad field {field!r} must have shape ({size},), got shape {array.shape}")
    return array


def validate(action: Mapping[str, Any]) -> GamepadDict:
    """Check a Dict-space action and return it as clean numpy arrays.

    The common case (a well-formed action) costs one concatenation and one vectorized range check,
    because this runs on every env step; the detailed checks run only to explain a failure.

    Args:
        action: mapping with the keys of :func:`dict_space` (all required).

    Returns:
        Dict of float32 sticks/triggers and int8 buttons (0/1).

    Raises:
        ValueError: a key is missing or unknown, a shape is wrong, a value is NaN or out of range; the
            message names the field and its allowed range.
    """
    if not isinstance(action, Mapping):
        raise ValueError(
            f"a gamepad action must be a dict with keys {list(DICT_KEYS)}, got {type(action).__name__}; "
            "wrap the env in nitrogen_envs.FlatGamepad to pass flat (21,) vectors"
        )
    try:
        left, right, triggers = action["left_stick"], action["right_stick"], action["triggers"]
        if len(action) == 4 and len(left) == 2 and len(right) == 2 and len(triggers) == 2:
            flat = np.concatenate((left, right, triggers, action["buttons"]))
            # NaN fails both comparisons, so this one check also rejects NaN.
            if flat.shape == (FLAT_SIZE,) and ((flat >= FLAT_LOW) & (flat <= FLAT_HIGH)).all():
                flat = flat.astype(np.float32, copy=False)
                return {
                    "left_stick": flat[0:2],
                    "right_stick": flat[2:4],
                    "triggers": flat[TRIGGER_SLICE],
                    "buttons": (flat[BUTTON_SLICE] >= BUTTON_THRESHOLD).astype(np.int8),
                }
    except (KeyError, TypeError, ValueError):
        pass  # explained below
    _explain_invalid(action)
    raise ValueError(f"invalid gamepad action {action!r}")  # pragma: no cover - _explain_invalid raises


def fingerprint(action: Any) -> tuple | None:
    """An exact, hashable key of a Dict action whose four fields are numpy arrays, or ``None`` for any other form.

    The key holds each field's dtype (byte order included), shape and bytes, so two actions with the same
    key are the same action: results derived only from an action (its validated form, its native action)
    can be memoized on it. Building it costs a fraction of :func:`validate`, which is why env steps use it.
    """
    if type(action) is not dict or len(action) != len(DICT_KEYS):
        return None
    try:
        left, right, triggers, buttons = (
            action["left_stick"], action["right_stick"], action["triggers"], action["buttons"]
        )  # fmt: skip
    except KeyError:
        return None
    ndarray = np.ndarray
    if type(left) is not ndarray or type(right) is not ndarray or type(triggers) is not ndarray:
        return None
    if type(buttons) is not ndarray:
        return None
    # dtype objects compare byte order too ('<f4' != '>f4'); the shape tells (2,) from (1, 2).
    return (
        left.dtype, left.shape, left.tobytes(), right.dtype, right.shape, right.tobytes(),
        triggers.dtype, triggers.shape, triggers.tobytes(), buttons.dtype, buttons.shape, buttons.tobytes(),
    )  # fmt: skip


def _explain_invalid(action: Mapping[str, Any]) -> None:
    """Raise the precise error for an action that failed the fast check."""
    unknown = set(action) - set(DICT_KEYS)
    if unknown:
        raise ValueError(f"unknown gamepad field(s) {sorted(unknown)}; allowed fields are {list(DICT_KEYS)}")
    missing = [key for key in DICT_KEYS if key not in action]
    if missing:
        raise ValueError(f"gamepad action is missing field(s) {missing}; use nitrogen_envs.gamepad.noop() as a base")
    for key, low in (("left_stick", -1.0), ("right_stick", -1.0), ("triggers", 0.0)):
        _check_range(key, _as_array(key, action[key], 2), low, 1.0)
    _check_range("buttons", _as_array("buttons", action["buttons"], len(BUTTON_NAMES)), 0.0, 1.0)


def validate_flat(vector: Any) -> np.ndarray:
    """Check a flat (21,) action vector and return it as float32.

    Raises:
        ValueError: wrong shape, NaN, or a value outside its field's range (the message names the field).
    """
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (FLAT_SIZE,):
        raise ValueError(
            f"a flat gamepad action must have shape ({FLAT_SIZE},) in the order {FLAT_NAMES[0]}..{FLAT_NAMES[-1]}, "
            f"got shape {array.shape}"
        )
    if ((array >= FLAT_LOW) & (array <= FLAT_HIGH)).all():
        return array
    for index, name in enumerate(FLAT_NAMES):
        low, high = float(FLAT_LOW[index]), float(FLAT_HIGH[index])
        value = float(array[index])
        if math.isnan(value) or not (low <= value <= high):
            raise ValueError(f"gamepad field {name!r} is {value}, allowed range is [{low}, {high}]")
    return array  # pragma: no cover - the loop above always finds the bad field


def to_flat(action: Mapping[str, Any]) -> np.ndarray:
    """Convert a gamepad action to the canonical (21,) float32 vector.

    Accepts the Dict-space form, or a partial friendly form where ``buttons`` may be a mapping of
    button name to 0/1 or a sequence of pressed button names, and any key may be left out.
    """
    base = noop()
    for key in DICT_KEYS:
        if key not in action:
            continue
        value = action[key]
        if key == "buttons" and isinstance(value, Mapping):
            value = buttons_from_names([name for name, pressed in value.items() if pressed])
        elif key == "buttons" and isinstance(value, Sequence) and (not value or isinstance(value[0], str)):
            value = buttons_from_names(value)  # a list of pressed names ([] = nothing pressed)
        base[key] = value
    clean = validate(base)
    return np.concatenate(
        [clean["left_stick"], clean["right_stick"], clean["triggers"], clean["buttons"].astype(np.float32)]
    ).astype(np.float32)


def from_flat(vector: Any) -> GamepadDict:
    """Convert a (21,) vector into the Dict-space form (buttons thresholded at 0.5)."""
    array = validate_flat(vector).copy()
    return {
        "left_stick": array[0:2],
        "right_stick": array[2:4],
        "triggers": array[TRIGGER_SLICE],
        "buttons": (array[BUTTON_SLICE] >= BUTTON_THRESHOLD).astype(np.int8),
    }


def buttons_from_names(names: Sequence[str]) -> np.ndarray:
    """A (15,) int8 button vector with the named buttons pressed.

    Raises:
        ValueError: an unknown button name (the message lists the valid ones).
    """
    buttons = np.zeros(len(BUTTON_NAMES), dtype=np.int8)
    for name in names:
        if name not in BUTTON_NAMES:
            raise ValueError(f"unknown button {name!r}; valid buttons are {list(BUTTON_NAMES)}")
        buttons[BUTTON_NAMES.index(name)] = 1
    return buttons


def pressed_names(action: Mapping[str, Any]) -> list[str]:
    """Names of the pressed buttons of a Dict-space action, in schema order."""
    pressed = np.flatnonzero(np.asarray(action["buttons"]) >= BUTTON_THRESHOLD)
    return [BUTTON_NAMES[i] for i in pressed]


def make_action(
    buttons: Sequence[str] = (),
    left_stick: tuple[float, float] = (0.0, 0.0),
    right_stick: tuple[float, float] = (0.0, 0.0),
    triggers: tuple[float, float] = (0.0, 0.0),
) -> GamepadDict:
    """Build a validated Dict-space action from readable parts.

    Example:
        >>> make_action(["south"], left_stick=(1.0, 0.0))["buttons"][:2].tolist()
        [1, 0]
    """
    return validate(
        {
            "left_stick": left_stick,
            "right_stick": right_stick,
            "triggers": triggers,
            "buttons": buttons_from_names(buttons),
        }
    )


def as_flat_action(action: Any) -> np.ndarray:
    """Canonical (21,) float32 vector of a Dict or flat gamepad action, buttons snapped to 0/1.

    Snapping records exactly what the game received (the env thresholds buttons at ``BUTTON_THRESHOLD`` too),
    which is why the dataset writer stores this form.

    Example:
        >>> as_flat_action(np.full(FLAT_SIZE, 0.7, dtype=np.float32))[BUTTON_SLICE][:2].tolist()
        [1.0, 1.0]

    Raises:
        ValueError: a malformed action (the message names the field).
    """
    if isinstance(action, Mapping):
        return to_flat(action)
    flat = validate_flat(action).copy()
    flat[BUTTON_SLICE] = (flat[BUTTON_SLICE] >= BUTTON_THRESHOLD).astype(np.float32)
    return flat
