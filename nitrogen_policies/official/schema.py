"""The released model's action vector, and its mapping to and from our flat gamepad schema.

Per step the release predicts ``len(BUTTON_TOKENS) + 4`` values (``nitrogen/mm_tokenizers.py``, the layout
that is not ``old_layout``): the 21 button tokens of :data:`BUTTON_TOKENS` (``nitrogen/shared.py``, alphabetical),
then the left stick ``(x, y)`` and the right stick ``(x, y)``, each axis rescaled from [-1, 1] to [0, 1]. Its
decoder thresholds every token at 0.5, so triggers come out pressed or not; :func:`official_to_flat` does the
same. ``old_layout`` checkpoints put the two sticks first.

Stick y: the release's +y is *down* (its Windows client negates y before the XInput driver, whose +y is up:
``nitrogen/game_env.py``); ours is +y up (:mod:`nitrogen_envs.gamepad`), so y changes sign both ways.

Four tokens are not buttons of any pad: ``RIGHT_BOTTOM``, ``RIGHT_LEFT``, ``RIGHT_RIGHT`` and ``RIGHT_UP``. The
release's client ignores them when it plays. Reading its output we drop them; writing its format we set them from
our right stick pushed past half way in that direction (the release does not document them; this is our reading).
"""

from __future__ import annotations

import numpy as np

from nitrogen_envs import gamepad

BUTTON_TOKENS: tuple[str, ...] = (
    "BACK",
    "DPAD_DOWN",
    "DPAD_LEFT",
    "DPAD_RIGHT",
    "DPAD_UP",
    "EAST",
    "GUIDE",
    "LEFT_SHOULDER",
    "LEFT_THUMB",
    "LEFT_TRIGGER",
    "NORTH",
    "RIGHT_BOTTOM",
    "RIGHT_LEFT",
    "RIGHT_RIGHT",
    "RIGHT_SHOULDER",
    "RIGHT_THUMB",
    "RIGHT_TRIGGER",
    "RIGHT_UP",
    "SOUTH",
    "START",
    "WEST",
)
"""The release's 21 button tokens, in its order (alphabetical)."""
STICK_TOKENS: tuple[str, ...] = ("left_x", "left_y", "right_x", "right_y")
"""The four stick axes after the buttons (our names; the release's ``j_left`` / ``j_right`` pairs)."""
ACTION_DIM = len(BUTTON_TOKENS) + len(STICK_TOKENS)
"""25: the release's ``action_dim``."""
Y_SIGN = -1.0
"""Multiplies a stick's y between the release (+y down) and ours (+y up), in both directions."""
VIRTUAL_TOKENS: dict[str, tuple[str, float]] = {
    "RIGHT_UP": ("right_y", 1.0),
    "RIGHT_BOTTOM": ("right_y", -1.0),
    "RIGHT_LEFT": ("right_x", -1.0),
    "RIGHT_RIGHT": ("right_x", 1.0),
}
"""Stick-direction tokens: pressed when our axis times the sign is at least :data:`VIRTUAL_THRESHOLD`."""
VIRTUAL_THRESHOLD = 0.5

TOKEN_TO_FLAT: dict[str, int] = {
    token: gamepad.FLAT_NAMES.index(token.lower()) for token in BUTTON_TOKENS if token not in VIRTUAL_TOKENS
}
"""Each real button token's index in our flat vector (15 buttons + 2 triggers)."""
if sorted(TOKEN_TO_FLAT.values()) != list(range(gamepad.STICK_SLICE.stop, gamepad.FLAT_SIZE)):
    raise RuntimeError("the release's button tokens no longer cover our buttons and triggers")  # a bug, not a user's


def layout(old_layout: bool = False) -> tuple[slice, slice]:
    """Where the buttons and the sticks sit in the release's vector: ``(buttons, sticks)``."""
    sticks = len(STICK_TOKENS)
    if old_layout:
        return slice(sticks, ACTION_DIM), slice(0, sticks)
    return slice(0, len(BUTTON_TOKENS)), slice(len(BUTTON_TOKENS), ACTION_DIM)


def official_to_flat(actions: np.ndarray, old_layout: bool = False, threshold: bool = True) -> np.ndarray:
    """The release's (..., 25) vectors -> our (..., 21) flat vectors.

    Sticks go from [0, 1] to [-1, 1] with y negated; button tokens move to our order and virtual tokens are
    dropped. With ``threshold`` buttons and triggers are snapped at 0.5 and sticks clipped, as the release
    decodes; without it the values stay raw (for a network's output that a decoder will snap later).
    """
    actions = np.asarray(actions, dtype=np.float32)
    if actions.shape[-1] != ACTION_DIM:
        raise ValueError(f"expected the release's {ACTION_DIM}-value actions, got shape {actions.shape}")
    buttons, sticks = layout(old_layout)
    flat = np.zeros((*actions.shape[:-1], gamepad.FLAT_SIZE), dtype=np.float32)
    stick = actions[..., sticks] * 2.0 - 1.0
    stick[..., 1::2] *= Y_SIGN
    flat[..., gamepad.STICK_SLICE] = np.clip(stick, -1.0, 1.0) if threshold else stick
    tokens = actions[..., buttons]
    for position, token in enumerate(BUTTON_TOKENS):
        if token in TOKEN_TO_FLAT:
            value = tokens[..., position]
            flat[..., TOKEN_TO_FLAT[token]] = (value >= gamepad.BUTTON_THRESHOLD) if threshold else value
    return flat


def flat_to_official(flat: np.ndarray, old_layout: bool = False) -> np.ndarray:
    """Our (..., 21) flat vectors -> the release's (..., 25) vectors (see :data:`VIRTUAL_TOKENS`)."""
    flat = np.asarray(flat, dtype=np.float32)
    if flat.shape[-1] != gamepad.FLAT_SIZE:
        raise ValueError(f"expected our {gamepad.FLAT_SIZE}-value flat actions, got shape {flat.shape}")
    buttons, sticks = layout(old_layout)
    out = np.zeros((*flat.shape[:-1], ACTION_DIM), dtype=np.float32)
    stick = flat[..., gamepad.STICK_SLICE].copy()
    stick[..., 1::2] *= Y_SIGN
    out[..., sticks] = (stick + 1.0) / 2.0
    tokens = np.zeros((*flat.shape[:-1], len(BUTTON_TOKENS)), dtype=np.float32)
    for position, token in enumerate(BUTTON_TOKENS):
        if token in TOKEN_TO_FLAT:
            tokens[..., position] = flat[..., TOKEN_TO_FLAT[token]]
        else:
            axis, sign = VIRTUAL_TOKENS[token]
            tokens[..., position] = sign * flat[..., gamepad.FLAT_NAMES.index(axis)] >= VIRTUAL_THRESHOLD
    out[..., buttons] = tokens
    return out
