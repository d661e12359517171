"""Human play: keyboard or a real gamepad (through SDL's game-controller mapping) -> unified gamepad.

The same :data:`KEYBOARD_MAP` serves every game, so a human's inputs land in the same action space a
policy uses (and, with the demonstrations package, can be recorded as training data).

Keyboard layout (Xbox names in brackets):

=======================  =====================
keys                     gamepad
=======================  =====================
arrow keys               left stick
I / J / K / L            right stick (up/left/down/right)
Space or Z               south [A]
X                        east [B]
C                        west [X]
V                        north [Y]
Q / E                    left / right shoulder
1 / 3                    left / right trigger
Tab / Return             back / start
W / A / S / D            d-pad
Escape                   quit
=======================  =====================
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.import_utils import require_package

logger = logging.getLogger(__name__)

# key name (pygame.key.key_code) -> (gamepad field, index or button name, value)
KEYBOARD_MAP: dict[str, tuple[str, str | int, float]] = {
    "left": ("left_stick", 0, -1.0),
    "right": ("left_stick", 0, 1.0),
    "up": ("left_stick", 1, 1.0),
    "down": ("left_stick", 1, -1.0),
    "j": ("right_stick", 0, -1.0),
    "l": ("right_stick", 0, 1.0),
    "i": ("right_stick", 1, 1.0),
    "k": ("right_stick", 1, -1.0),
    "space": ("buttons", "south", 1.0),
    "z": ("buttons", "south", 1.0),
    "x": ("buttons", "east", 1.0),
    "c": ("buttons", "west", 1.0),
    "v": ("buttons", "north", 1.0),
    "q": ("buttons", "left_shoulder", 1.0),
    "e": ("buttons", "right_shoulder", 1.0),
    "1": ("triggers", 0, 1.0),
    "3": ("triggers", 1, 1.0),
    "tab": ("buttons", "back", 1.0),
    "return": ("buttons", "start", 1.0),
    "w": ("buttons", "dpad_up", 1.0),
    "a": ("buttons", "dpad_left", 1.0),
    "s": ("buttons", "dpad_down", 1.0),
    "d": ("buttons", "dpad_right", 1.0),
}

# SDL game-controller button names -> our button names (SDL uses the same positional convention).
_SDL_BUTTONS = {
    "a": "south", "b": "east", "x": "west", "y": "north",
    "leftshoulder": "left_shoulder", "rightshoulder": "right_shoulder",
    "back": "back", "start": "start", "guide": "guide",
    "leftstick": "left_thumb", "rightstick": "right_thumb",
    "dpup": "dpad_up", "dpdown": "dpad_down", "dpleft": "dpad_left", "dpright": "dpad_right",
}  # fmt: skip


def keys_to_action(held: set[str]) -> gamepad.GamepadDict:
    """Gamepad action for a set of held key names (see :data:`KEYBOARD_MAP`)."""
    action = gamepad.noop()
    for key in held:
        if key not in KEYBOARD_MAP:
            continue
        target, where, value = KEYBOARD_MAP[key]
        if target == "buttons":
            action["buttons"][gamepad.BUTTON_NAMES.index(str(where))] = 1
        else:
            action[target][int(where)] = np.clip(action[target][int(where)] + value, -1.0, 1.0)
    return action


@dataclass
class HumanInput:
    """Reads pygame events into a gamepad action; a connected controller is used when present.

    Call :meth:`poll` once per frame. ``quit_requested`` turns true on Escape or a closed window.
    """

    pygame: Any
    held: set[str] = field(default_factory=set)
    quit_requested: bool = False
    controller: Any = None

    @classmethod
    def create(cls, use_controller: bool = True) -> HumanInput:
        """Initialize pygame input (and the first game controller, if any)."""
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        pygame = require_package("pygame")
        pygame.init()
        reader = cls(pygame=pygame)
        if use_controller:
            try:
                from pygame._sdl2 import controller as sdl_controller

                sdl_controller.init()
                if sdl_controller.get_count() > 0:
                    reader.controller = sdl_controller.Controller(0)
                    logger.info("using game controller %s", reader.controller.name)
            except (ImportError, Exception) as err:
                logger.info("no game controller support (%s); using the keyboard", err)
        return reader

    def poll(self) -> gamepad.GamepadDict:
        """Process pending events and return the current gamepad action."""
        pygame = self.pygame
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.quit_requested = True
            elif event.type == pygame.KEYDOWN:
                name = pygame.key.name(event.key)
                if name == "escape":
                    self.quit_requested = True
                self.held.add(name)
            elif event.type == pygame.KEYUP:
                self.held.discard(pygame.key.name(event.key))
        action = keys_to_action(self.held)
        if self.controller is not None:
            action = self._merge_controller(action)
        return action

    def _merge_controller(self, action: gamepad.GamepadDict) -> gamepad.GamepadDict:
        return merge_actions(action, controller_action(self.pygame, self.controller))


def controller_action(pygame: Any, pad: Any) -> gamepad.GamepadDict:
    """The gamepad action a physical controller (``pygame._sdl2.controller.Controller``) is holding now.

    SDL's game-controller layer maps every known pad (Xbox, PlayStation, Switch Pro...) to Xbox
    positions, which are ours too; SDL's +y is down, ours is up.
    """

    def axes(*codes: int, low: float = -1.0, sign: tuple[int, ...] = (1, 1)) -> np.ndarray:
        values = [s * pad.get_axis(code) / 32767.0 for s, code in zip(sign, codes, strict=True)]
        return np.clip(np.asarray(values, dtype=np.float32), low, 1.0)

    action = gamepad.noop()
    action["left_stick"] = axes(pygame.CONTROLLER_AXIS_LEFTX, pygame.CONTROLLER_AXIS_LEFTY, sign=(1, -1))
    action["right_stick"] = axes(pygame.CONTROLLER_AXIS_RIGHTX, pygame.CONTROLLER_AXIS_RIGHTY, sign=(1, -1))
    action["triggers"] = axes(pygame.CONTROLLER_AXIS_TRIGGERLEFT, pygame.CONTROLLER_AXIS_TRIGGERRIGHT, low=0.0)
    for sdl_name, ours in _SDL_BUTTONS.items():
        if pad.get_button(getattr(pygame, f"CONTROLLER_BUTTON_{sdl_name.upper()}", -1)):
            action["buttons"][gamepad.BUTTON_NAMES.index(ours)] = 1
    return action


def merge_actions(first: gamepad.GamepadDict, second: gamepad.GamepadDict) -> gamepad.GamepadDict:
    """Two input devices held at once: sticks add (clipped), triggers and buttons take the maximum."""
    return {
        "left_stick": np.clip(first["left_stick"] + second["left_stick"], -1, 1).astype(np.float32),
        "right_stick": np.clip(first["right_stick"] + second["right_stick"], -1, 1).astype(np.float32),
        "triggers": np.clip(np.maximum(first["triggers"], second["triggers"]), 0, 1).astype(np.float32),
        "buttons": np.maximum(first["buttons"], second["buttons"]),
    }


@dataclass
class PlayResult:
    """What a human play session did."""

    steps: int = 0
    episode_returns: list[float] = field(default_factory=list)


def play_env(
    env: Any,
    source: HumanInput,
    seed: int | None = None,
    max_steps: int | None = None,
    show: Callable[[np.ndarray], None] | None = None,
    on_step: Callable[[np.ndarray, gamepad.GamepadDict, float, bool, bool, dict], None] | None = None,
) -> PlayResult:
    """Run the play loop: poll input, step, show the frame, until quit or ``max_steps``.

    Args:
        env: a NitroGen env (Dict gamepad actions).
        source: where actions come from.
        seed: seed of the first episode.
        max_steps: stop after this many steps (``None``: until the player quits).
        show: draws a frame (a window in ``nitrogen play``; omitted in tests).
        on_step: called with (obs, action, reward, terminated, truncated, info) after each step,
            e.g. by a demonstration recorder.
    """
    result = PlayResult()
    obs, _ = env.reset(seed=seed)
    episode_return = 0.0
    while not source.quit_requested and (max_steps is None or result.steps < max_steps):
        if show is not None:
            show(obs)
        action = source.poll()
        if source.quit_requested:
            break
        obs, reward, terminated, truncated, info = env.step(action)
        result.steps += 1
        episode_return += float(reward)
        if on_step is not None:
            on_step(obs, action, float(reward), bool(terminated), bool(truncated), info)
        if terminated or truncated:
            result.episode_returns.append(episode_return)
            logger.info("episode over: return %.2f success %s", episode_return, info.get("success"))
            episode_return = 0.0
            obs, _ = env.reset()
    return result
