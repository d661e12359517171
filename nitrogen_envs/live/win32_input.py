"""Windows input: a virtual Xbox 360 pad (vgamepad / ViGEmBus) and DirectInput keys (pydirectinput).

Both packages exist only on Windows, so they are imported when a backend is constructed; tests pass
a recorder module instead (``module=``) to check the exact calls at this boundary.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.live.errors import BackendUnavailable, LiveDependencyNotInstalled

# schema button -> XUSB_BUTTON member suffix (Xbox layout: south = A, east = B, west = X, north = Y)
XUSB_BUTTONS: dict[str, str] = {
    "south": "XUSB_GAMEPAD_A",
    "east": "XUSB_GAMEPAD_B",
    "west": "XUSB_GAMEPAD_X",
    "north": "XUSB_GAMEPAD_Y",
    "left_shoulder": "XUSB_GAMEPAD_LEFT_SHOULDER",
    "right_shoulder": "XUSB_GAMEPAD_RIGHT_SHOULDER",
    "back": "XUSB_GAMEPAD_BACK",
    "start": "XUSB_GAMEPAD_START",
    "guide": "XUSB_GAMEPAD_GUIDE",
    "left_thumb": "XUSB_GAMEPAD_LEFT_THUMB",
    "right_thumb": "XUSB_GAMEPAD_RIGHT_THUMB",
    "dpad_up": "XUSB_GAMEPAD_DPAD_UP",
    "dpad_down": "XUSB_GAMEPAD_DPAD_DOWN",
    "dpad_left": "XUSB_GAMEPAD_DPAD_LEFT",
    "dpad_right": "XUSB_GAMEPAD_DPAD_RIGHT",
}


def _windows_module(name: str, pip_name: str) -> ModuleType:
    if sys.platform != "win32":
        raise BackendUnavailable(f"{pip_name} works only on Windows (this is {sys.platform})")
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise LiveDependencyNotInstalled(
            f"{pip_name} is not installed ({err}). Install it with: pip install 'nitrogen-gym[windows]'"
            + (" and install the ViGEmBus driver" if name == "vgamepad" else "")
        ) from err


def stick_to_int16(value: float) -> int:
    """Map a stick axis in [-1, 1] to XInput's int16 range (+y is up in both).

    Example:
        >>> stick_to_int16(1.0), stick_to_int16(-1.0), stick_to_int16(0.0)
        (32767, -32768, 0)
    """
    scaled = round(float(value) * 32767.0)
    return -32768 if value <= -1.0 else max(-32768, min(32767, scaled))


def trigger_to_uint8(value: float) -> int:
    """Map a trigger in [0, 1] to XInput's 0..255.

    Example:
        >>> trigger_to_uint8(1.0), trigger_to_uint8(0.5)
        (255, 128)
    """
    return max(0, min(255, round(float(value) * 255.0)))


class VGamepadPad:
    """A virtual Xbox 360 controller; every :meth:`send` writes the whole state in one report.

    Args:
        module: the ``vgamepad`` module (injected by tests); imported on Windows when ``None``.
    """

    def __init__(self, module: ModuleType | Any = None) -> None:
        self._vg = module if module is not None else _windows_module("vgamepad", "vgamepad")
        self._pad: Any = self._vg.VX360Gamepad()
        self._buttons = [getattr(self._vg.XUSB_BUTTON, XUSB_BUTTONS[name]) for name in gamepad.BUTTON_NAMES]

    def send(self, action: gamepad.GamepadDict) -> None:
        """Write a validated gamepad action to the virtual pad."""
        pad = self._pad
        for button, pressed in zip(self._buttons, np.asarray(action["buttons"]).tolist(), strict=True):
            if pressed:
                pad.press_button(button=button)
            else:
                pad.release_button(button=button)
        left, right, triggers = action["left_stick"], action["right_stick"], action["triggers"]
        pad.left_joystick(x_value=stick_to_int16(left[0]), y_value=stick_to_int16(left[1]))
        pad.right_joystick(x_value=stick_to_int16(right[0]), y_value=stick_to_int16(right[1]))
        pad.left_trigger(value=trigger_to_uint8(triggers[0]))
        pad.right_trigger(value=trigger_to_uint8(triggers[1]))
        pad.update()

    def neutral(self) -> None:
        """Release every button, centre the sticks, release the triggers."""
        if self._pad is not None:
            self._pad.reset()
            self._pad.update()

    def close(self) -> None:
        """Neutralize, then drop the device: vgamepad unplugs the ViGEm target when it is deleted."""
        if self._pad is None:
            return
        self.neutral()
        pad, self._pad = self._pad, None
        del pad


class DirectInputKeyboard:
    """Scan-code key presses that DirectX games read (pydirectinput).

    Args:
        module: the ``pydirectinput`` module (injected by tests); imported on Windows when ``None``.
    """

    def __init__(self, module: ModuleType | Any = None) -> None:
        # Any: the type checker knows no attributes (PAUSE, keyDown, ...) of a module imported by name.
        self._pdi: Any = module
        if module is None:
            self._pdi = _windows_module("pydirectinput", "pydirectinput")
        # pydirectinput sleeps PAUSE seconds after every call by default (0.1 s): far too slow per step.
        self._pdi.PAUSE = 0
        self._pdi.FAILSAFE = False

    def key_down(self, key: str) -> None:
        """Press ``key`` (catalog names are pydirectinput names)."""
        self._pdi.keyDown(key)

    def key_up(self, key: str) -> None:
        """Release ``key``."""
        self._pdi.keyUp(key)

    def flush(self) -> None:
        """Nothing to flush: pydirectinput sends immediately."""

    def close(self) -> None:
        """Nothing to close."""
