"""The Windows input layer, checked at its package boundary with recorders (no Windows needed).

vgamepad and pydirectinput are replaced by fake modules that record every call, so these tests pin
exactly what the real packages receive: button presses/releases, stick values scaled to int16,
triggers scaled to 0..255, key downs/ups, and the pad's removal.
"""

from __future__ import annotations

import enum
import types

import pytest

from nitrogen_envs import gamepad
from nitrogen_envs.live.catalog import load_catalog
from nitrogen_envs.live.input import KeyboardController, PadController, choose_backend
from nitrogen_envs.live.win32_input import (
    XUSB_BUTTONS,
    DirectInputKeyboard,
    VGamepadPad,
    stick_to_int16,
    trigger_to_uint8,
)


class Recorder:
    """Collects (method, kwargs) calls in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []


def fake_vgamepad(recorder: Recorder) -> types.ModuleType:
    module = types.ModuleType("vgamepad")
    module.XUSB_BUTTON = enum.IntFlag("XUSB_BUTTON", {name: 1 << i for i, name in enumerate(XUSB_BUTTONS.values())})

    class VX360Gamepad:
        def __init__(self) -> None:
            recorder.calls.append(("create",))

        def __getattr__(self, name):
            def record(*args, **kwargs):
                recorder.calls.append((name, *args, *sorted(kwargs.items())))

            return record

        def __del__(self) -> None:
            recorder.calls.append(("removed",))

    module.VX360Gamepad = VX360Gamepad
    return module


def fake_pydirectinput(recorder: Recorder) -> types.ModuleType:
    module = types.ModuleType("pydirectinput")
    module.PAUSE = 0.1
    module.FAILSAFE = True
    module.keyDown = lambda key: recorder.calls.append(("keyDown", key))
    module.keyUp = lambda key: recorder.calls.append(("keyUp", key))
    return module


@pytest.fixture
def pad():
    recorder = Recorder()
    module = fake_vgamepad(recorder)
    return VGamepadPad(module=module), recorder, module


def test_stick_and_trigger_scaling_matches_xinput_ranges():
    assert [stick_to_int16(v) for v in (-1.0, -0.5, 0.0, 0.5, 1.0)] == [-32768, -16384, 0, 16384, 32767]
    assert [trigger_to_uint8(v) for v in (0.0, 0.25, 1.0)] == [0, 64, 255]


def test_vgamepad_receives_buttons_sticks_and_triggers_in_one_report(pad):
    device, recorder, module = pad
    recorder.calls.clear()
    device.send(
        gamepad.make_action(
            ["south", "dpad_left"], left_stick=(1.0, -0.5), right_stick=(-1.0, 0.25), triggers=(0.5, 1.0)
        )
    )
    presses = [call[1][1] for call in recorder.calls if call[0] == "press_button"]
    releases = [call[1][1] for call in recorder.calls if call[0] == "release_button"]
    assert presses == [module.XUSB_BUTTON.XUSB_GAMEPAD_A, module.XUSB_BUTTON.XUSB_GAMEPAD_DPAD_LEFT]
    assert len(releases) == len(gamepad.BUTTON_NAMES) - 2
    assert ("left_joystick", ("x_value", 32767), ("y_value", -16384)) in recorder.calls  # +y is up in both
    assert ("right_joystick", ("x_value", -32768), ("y_value", 8192)) in recorder.calls
    assert ("left_trigger", ("value", 128)) in recorder.calls
    assert ("right_trigger", ("value", 255)) in recorder.calls
    assert recorder.calls[-1] == ("update",)


def test_every_schema_button_maps_to_a_distinct_xusb_button(pad):
    device, recorder, module = pad
    for name in gamepad.BUTTON_NAMES:
        recorder.calls.clear()
        device.send(gamepad.make_action([name]))
        pressed = [call[1][1] for call in recorder.calls if call[0] == "press_button"]
        assert pressed == [getattr(module.XUSB_BUTTON, XUSB_BUTTONS[name])]


def test_pad_controller_neutralizes_on_release_and_removes_the_pad_on_close(pad):
    device, recorder, _ = pad
    controller = PadController(device)
    controller.apply(gamepad.make_action(["start"], left_stick=(1.0, 0.0)))
    recorder.calls.clear()
    controller.release_all()
    assert recorder.calls == [("reset",), ("update",)]
    recorder.calls.clear()
    controller.close()
    import gc

    gc.collect()
    assert recorder.calls == [("reset",), ("update",), ("removed",)]
    controller.apply(gamepad.make_action(["south"]))  # ignored after close
    assert ("press_button", ("button", 1)) not in recorder.calls


def test_pad_emergency_release_disables_input_until_enabled(pad):
    device, recorder, _ = pad
    controller = PadController(device)
    controller.emergency_release()
    recorder.calls.clear()
    controller.apply(gamepad.make_action(["south"]))
    assert recorder.calls == []
    controller.enable()
    controller.apply(gamepad.make_action(["south"]))
    assert recorder.calls[-1] == ("update",)


def test_pydirectinput_gets_only_key_changes_and_all_keys_released():
    recorder = Recorder()
    module = fake_pydirectinput(recorder)
    spec = load_catalog()["SuperTux"]
    controller = KeyboardController(DirectInputKeyboard(module=module), spec.key_table())
    assert module.PAUSE == 0  # pydirectinput's default 0.1 s sleep per call would cap the control rate
    controller.apply(gamepad.make_action(["south"], left_stick=(1.0, 0.0)))
    assert recorder.calls == [("keyDown", "right"), ("keyDown", "space")]
    recorder.calls.clear()
    controller.apply(gamepad.make_action(left_stick=(1.0, 0.0)))  # jump released, right still held
    assert recorder.calls == [("keyUp", "space")]
    recorder.calls.clear()
    controller.apply(gamepad.make_action(left_stick=(0.3, 0.0)))  # inside the 0.5 dead zone: nothing held
    assert recorder.calls == [("keyUp", "right")]
    recorder.calls.clear()
    controller.close()
    assert sorted(call[1] for call in recorder.calls) == sorted(set(spec.key_table().names))
    assert all(call[0] == "keyUp" for call in recorder.calls)


def test_keyboard_kill_switch_disable_releases_and_ignores_later_actions():
    recorder = Recorder()
    controller = KeyboardController(
        DirectInputKeyboard(module=fake_pydirectinput(recorder)), load_catalog()["SuperTux"].key_table()
    )
    controller.apply(gamepad.make_action(left_stick=(-1.0, 0.0)))
    controller.disable()
    assert ("keyUp", "left") in recorder.calls
    recorder.calls.clear()
    controller.apply(gamepad.make_action(left_stick=(-1.0, 0.0)))
    assert recorder.calls == []


def test_backend_choice_on_windows_and_linux(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "platform", "win32")
    assert choose_backend("gamepad", "auto", has_keymap=False) == "vgamepad"
    assert choose_backend("keyboard", "auto", has_keymap=True) == "pydirectinput"
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr("nitrogen_envs.live.uinput_pad.uinput_available", lambda: False)
    assert choose_backend("keyboard", "auto", has_keymap=True) == "xtest"
    assert choose_backend("gamepad", "auto", has_keymap=True) == "xtest"  # keyboard fallback without uinput
    from nitrogen_envs.live.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="/dev/uinput"):
        choose_backend("gamepad", "auto", has_keymap=False)
    assert choose_backend("gamepad", "vgamepad", has_keymap=False) == "vgamepad"  # forced


def test_windows_packages_refuse_to_load_on_other_platforms():
    import sys

    if sys.platform == "win32":
        pytest.skip("checks the non-Windows guard")
    from nitrogen_envs.live.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="only on Windows"):
        VGamepadPad()


def test_uinput_pad_writes_evdev_events_with_y_axes_flipped():
    from nitrogen_envs.live.uinput_pad import UInputPad

    events: list[tuple] = []
    codes = {
        name: i
        for i, name in enumerate(
            [
                "EV_KEY",
                "EV_ABS",
                "ABS_X",
                "ABS_Y",
                "ABS_RX",
                "ABS_RY",
                "ABS_Z",
                "ABS_RZ",
                "ABS_HAT0X",
                "ABS_HAT0Y",
                "BTN_SOUTH",
                "BTN_EAST",
                "BTN_WEST",
                "BTN_NORTH",
                "BTN_TL",
                "BTN_TR",
                "BTN_SELECT",
                "BTN_START",
                "BTN_MODE",
                "BTN_THUMBL",
                "BTN_THUMBR",
            ]
        )
    }
    module = types.ModuleType("evdev")
    module.ecodes = types.SimpleNamespace(**codes)
    module.AbsInfo = lambda **kw: kw

    class UInput:
        def __init__(self, capabilities, **kwargs):
            events.append(("create", kwargs["name"]))

        def write(self, ev, code, value):
            events.append((ev, code, value))

        def syn(self):
            events.append(("syn",))

        def close(self):
            events.append(("closed",))

    module.UInput = UInput
    device = UInputPad(module=module)
    device.send(gamepad.make_action(["south", "dpad_up"], left_stick=(0.0, 1.0), triggers=(0.0, 1.0)))
    assert (codes["EV_KEY"], codes["BTN_SOUTH"], 1) in events
    assert (codes["EV_ABS"], codes["ABS_Y"], -32768) in events  # evdev's y points down
    assert (codes["EV_ABS"], codes["ABS_RZ"], 255) in events
    assert (codes["EV_ABS"], codes["ABS_HAT0Y"], -1) in events
    device.close()
    assert events[-1] == ("closed",) and (codes["EV_KEY"], codes["BTN_SOUTH"], 0) in events
