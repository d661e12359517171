"""Linux virtual gamepad through /dev/uinput (python-evdev), shaped like an Xbox 360 pad.

Needs write access to /dev/uinput (``sudo modprobe uinput`` and a udev rule or group); the env
chooses it automatically only when that device exists.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

from nitrogen_envs import gamepad
from nitrogen_envs.live.errors import BackendUnavailable, LiveDependencyNotInstalled
from nitrogen_envs.live.win32_input import stick_to_int16, trigger_to_uint8

UINPUT_PATH = "/dev/uinput"

# schema button -> evdev key code name (Linux gamepad API: BTN_SOUTH is the bottom face button)
EVDEV_BUTTONS: dict[str, str] = {
    "south": "BTN_SOUTH",
    "east": "BTN_EAST",
    "west": "BTN_WEST",
    "north": "BTN_NORTH",
    "left_shoulder": "BTN_TL",
    "right_shoulder": "BTN_TR",
    "back": "BTN_SELECT",
    "start": "BTN_START",
    "guide": "BTN_MODE",
    "left_thumb": "BTN_THUMBL",
    "right_thumb": "BTN_THUMBR",
}


def uinput_available() -> bool:
    """Whether a uinput device can be created here (the node exists and is writable)."""
    return os.path.exists(UINPUT_PATH) and os.access(UINPUT_PATH, os.W_OK)


class UInputPad:
    """A virtual gamepad on /dev/uinput; removed from the system on :meth:`close`.

    Args:
        module: the ``evdev`` module (injected by tests); imported when ``None``.
    """

    def __init__(self, module: ModuleType | Any = None) -> None:
        if module is None:
            if not uinput_available():
                raise BackendUnavailable(
                    f"{UINPUT_PATH} is missing or not writable; load it (`sudo modprobe uinput`) and grant access, "
                    "or use input='keyboard'"
                )
            try:
                module = importlib.import_module("evdev")
            except ImportError as err:
                raise LiveDependencyNotInstalled(
                    f"evdev is not installed ({err}). Install it with: pip install evdev"
                ) from err
        self._ev = module
        ecodes = module.ecodes
        self._buttons = [getattr(ecodes, EVDEV_BUTTONS[name]) for name in gamepad.BUTTON_NAMES if name in EVDEV_BUTTONS]
        self._button_index = [
            gamepad.BUTTON_NAMES.index(name) for name in gamepad.BUTTON_NAMES if name in EVDEV_BUTTONS
        ]
        stick = module.AbsInfo(value=0, min=-32768, max=32767, fuzz=16, flat=128, resolution=0)
        trigger = module.AbsInfo(value=0, min=0, max=255, fuzz=0, flat=0, resolution=0)
        hat = module.AbsInfo(value=0, min=-1, max=1, fuzz=0, flat=0, resolution=0)
        capabilities = {
            ecodes.EV_KEY: list(self._buttons),
            ecodes.EV_ABS: [
                (ecodes.ABS_X, stick),
                (ecodes.ABS_Y, stick),
                (ecodes.ABS_RX, stick),
                (ecodes.ABS_RY, stick),
                (ecodes.ABS_Z, trigger),
                (ecodes.ABS_RZ, trigger),
                (ecodes.ABS_HAT0X, hat),
                (ecodes.ABS_HAT0Y, hat),
            ],
        }
        self._device: Any = module.UInput(capabilities, name="NitroGen virtual gamepad", vendor=0x045E, product=0x028E)

    def send(self, action: gamepad.GamepadDict) -> None:
        """Write a validated gamepad action (evdev's y axes point down, so they are negated)."""
        ec, device = self._ev.ecodes, self._device
        buttons = np.asarray(action["buttons"]).tolist()
        for code, index in zip(self._buttons, self._button_index, strict=True):
            device.write(ec.EV_KEY, code, int(buttons[index]))
        left, right, triggers = action["left_stick"], action["right_stick"], action["triggers"]
        device.write(ec.EV_ABS, ec.ABS_X, stick_to_int16(left[0]))
        device.write(ec.EV_ABS, ec.ABS_Y, stick_to_int16(-float(left[1])))
        device.write(ec.EV_ABS, ec.ABS_RX, stick_to_int16(right[0]))
        device.write(ec.EV_ABS, ec.ABS_RY, stick_to_int16(-float(right[1])))
        device.write(ec.EV_ABS, ec.ABS_Z, trigger_to_uint8(triggers[0]))
        device.write(ec.EV_ABS, ec.ABS_RZ, trigger_to_uint8(triggers[1]))
        named = dict(zip(gamepad.BUTTON_NAMES, buttons, strict=True))
        device.write(ec.EV_ABS, ec.ABS_HAT0X, int(named["dpad_right"]) - int(named["dpad_left"]))
        device.write(ec.EV_ABS, ec.ABS_HAT0Y, int(named["dpad_down"]) - int(named["dpad_up"]))
        device.syn()

    def neutral(self) -> None:
        """Everything released and centred."""
        if self._device is not None:
            self.send(gamepad.noop())

    def close(self) -> None:
        """Neutralize and destroy the uinput device."""
        if self._device is None:
            return
        self.neutral()
        device, self._device = self._device, None
        device.close()
