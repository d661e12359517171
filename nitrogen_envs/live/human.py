"""What a person is pressing while they play a live game themselves, as unified gamepad actions.

Recording human demonstrations of a live game (``nitrogen play --live GAME --record DIR``) cannot read
input from a window of ours: the game has the focus and receives the keys. So input is read from the
system instead, without taking it away from the game:

* **keyboard**: the global key state (X11 ``QueryKeymap`` on Linux, ``GetAsyncKeyState`` on Windows),
  turned into a gamepad action through the game's own catalog key map in reverse. The recorded action
  is therefore exactly what :class:`~nitrogen_envs.live.env.LiveEnv` would send to press those keys.
* **gamepad**: a physical controller through SDL's game-controller layer (pygame), with background
  events allowed so it keeps reading while the game window has the focus.

Two control keys, which must not be game keys, steer a recording: ``end_key`` (default F10) ends the
current episode and ``stop_key`` (default F12) stops after saving it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Protocol

from nitrogen_envs import gamepad
from nitrogen_envs.live.errors import BackendUnavailable
from nitrogen_envs.live.keys import check_key, windows_vk
from nitrogen_envs.mapping import ButtonTable
from nitrogen_envs.play import controller_action, merge_actions

logger = logging.getLogger(__name__)


class KeyState(Protocol):
    """Reads which of some keys are held right now, whoever has the focus."""

    def held(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` (catalog key names) held down now."""
        ...

    def close(self) -> None:
        """Release the connection to the system."""
        ...


class Win32KeyState:
    """Global key state on Windows through ``GetAsyncKeyState`` (high bit set = held now).

    Args:
        get_async_key_state: the Win32 function; injected by tests, ``user32.GetAsyncKeyState`` otherwise.
    """

    def __init__(self, get_async_key_state: Callable[[int], int] | None = None) -> None:
        if get_async_key_state is None:
            if sys.platform != "win32":
                raise BackendUnavailable("Win32KeyState reads the Windows keyboard; use X11KeyState on Linux")
            get_async_key_state = ctypes.windll.user32.GetAsyncKeyState  # type: ignore[attr-defined]
        self._query = get_async_key_state

    def held(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` Windows reports held."""
        return {key for key in keys if self._query(windows_vk(key)) & 0x8000}

    def close(self) -> None:
        """Nothing to release."""


def system_key_state(display: str | None = None) -> KeyState:
    """The key-state reader for this OS."""
    if sys.platform == "win32":
        return Win32KeyState()
    from nitrogen_envs.live.x11_keyboard import X11KeyState

    return X11KeyState(display)


class PhysicalGamepad:
    """The first physical controller, read through SDL while another window has the focus.

    Raises:
        BackendUnavailable: pygame has no SDL controller support or no controller is connected.
    """

    def __init__(self) -> None:
        # The game window has the focus; without this hint SDL drops controller events for background apps.
        os.environ["SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS"] = "1"
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
            from pygame._sdl2 import controller as sdl_controller
        except ImportError as err:
            raise BackendUnavailable(
                f"reading a physical gamepad needs pygame-ce ({err}); pip install 'nitrogen-gym[play]'"
            ) from err
        pygame.init()
        sdl_controller.init()
        if sdl_controller.get_count() == 0:
            raise BackendUnavailable("no game controller is connected; plug one in (or record with the keyboard)")
        self._pygame = pygame
        self._pad = sdl_controller.Controller(0)
        logger.info("recording game controller %s", self._pad.name)

    def action(self) -> gamepad.GamepadDict:
        """What the controller holds now (SDL's event queue is pumped first)."""
        self._pygame.event.pump()
        return controller_action(self._pygame, self._pad)

    def close(self) -> None:
        """Release the controller."""
        self._pad.quit()


class LiveHumanInput:
    """Polls a person's keyboard and/or controller into gamepad actions, plus the two control keys.

    Args:
        key_table: the game's keyboard map (catalog ``keys``); ``None`` ignores the keyboard.
        keys: where key states come from (needed with ``key_table`` and for the control keys).
        pad: a physical controller, or ``None``.
        end_key: ends the current episode when pressed.
        stop_key: ends the current episode and stops recording when pressed.

    Raises:
        ValueError: a control key is also one of the game's keys (it would end episodes while playing).
    """

    def __init__(
        self,
        key_table: ButtonTable | None,
        keys: KeyState,
        pad: PhysicalGamepad | None = None,
        end_key: str = "f10",
        stop_key: str = "f12",
    ) -> None:
        game_keys = set(key_table.names) if key_table is not None else set()
        for role, key in (("end_key", end_key), ("stop_key", stop_key)):
            check_key(key)
            if key in game_keys:
                raise ValueError(f"{role} {key!r} is one of the game's keys; choose another key to control recording")
        if end_key == stop_key:
            raise ValueError(f"end_key and stop_key are both {end_key!r}; choose two different keys")
        self.key_table, self.keys, self.pad = key_table, keys, pad
        self.end_key, self.stop_key = end_key, stop_key
        self._watched = sorted(game_keys | {end_key, stop_key})
        self.end_requested = False
        self.stop_requested = False
        self._previous: set[str] = set()

    def poll(self) -> gamepad.GamepadDict:
        """The action held now; a control key going down sets ``end_requested`` / ``stop_requested``."""
        held = self.keys.held(self._watched)
        pressed, self._previous = held - self._previous, held
        self.end_requested |= self.end_key in pressed
        self.stop_requested |= self.stop_key in pressed
        action = gamepad.noop()
        if self.key_table is not None:
            action = self.key_table.to_gamepad([int(name in held) for name in self.key_table.names])
        if self.pad is not None:
            action = merge_actions(action, self.pad.action())
        return action

    def new_episode(self) -> None:
        """Forget the end request once its episode has ended."""
        self.end_requested = False

    def close(self) -> None:
        """Release the keyboard and controller readers."""
        self.keys.close()
        if self.pad is not None:
            self.pad.close()
