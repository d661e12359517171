import numpy as np
import pytest

from nitrogen_envs import gamepad


def test_flat_layout_is_sticks_then_triggers_then_the_15_buttons_in_order():
    assert gamepad.FLAT_NAMES[:6] == ("left_x", "left_y", "right_x", "right_y", "left_trigger", "right_trigger")
    assert gamepad.BUTTON_NAMES == (
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
    assert gamepad.FLAT_SIZE == 21


def test_spaces_have_the_documented_ranges():
    space = gamepad.dict_space()
    assert space["left_stick"].low.tolist() == [-1, -1] and space["left_stick"].high.tolist() == [1, 1]
    assert space["triggers"].low.tolist() == [0, 0] and space["triggers"].high.tolist() == [1, 1]
    assert space["buttons"].n == 15
    flat = gamepad.flat_space()
    assert flat.shape == (21,)
    assert flat.low[:4].tolist() == [-1] * 4 and flat.low[4:].tolist() == [0] * 17
    assert flat.high.tolist() == [1] * 21


def test_dict_and_flat_round_trip_for_random_actions():
    space = gamepad.dict_space()
    space.seed(0)
    for _ in range(50):
        action = space.sample()
        back = gamepad.from_flat(gamepad.to_flat(action))
        for key in gamepad.DICT_KEYS:
            np.testing.assert_allclose(back[key], action[key], atol=1e-6)


def test_buttons_are_pressed_at_or_above_one_half():
    vector = gamepad.noop_flat()
    vector[gamepad.FLAT_NAMES.index("south")] = 0.5
    vector[gamepad.FLAT_NAMES.index("east")] = 0.49
    assert gamepad.pressed_names(gamepad.from_flat(vector)) == ["south"]


def test_noop_is_neutral_and_valid():
    assert gamepad.dict_space().contains(gamepad.noop())
    assert not gamepad.to_flat(gamepad.noop()).any()


def test_friendly_to_flat_accepts_button_names():
    vector = gamepad.to_flat({"buttons": ["south", "dpad_left"], "triggers": (0.0, 1.0)})
    assert vector[gamepad.FLAT_NAMES.index("south")] == 1
    assert vector[gamepad.FLAT_NAMES.index("dpad_left")] == 1
    assert vector[gamepad.FLAT_NAMES.index("right_trigger")] == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("left_stick", [1.5, 0.0], r"'left_stick' is out of range.*\[-1.0, 1.0\]"),
        ("triggers", [-0.1, 0.0], r"'triggers' is out of range.*\[0.0, 1.0\]"),
        ("right_stick", [np.nan, 0.0], r"'right_stick' contains NaN"),
        ("buttons", [0] * 14, r"'buttons' must have shape \(15,\)"),
        ("left_stick", "up", r"'left_stick' must be numeric"),
    ],
)
def test_bad_dict_actions_name_the_field_and_range(field, value, message):
    action = gamepad.noop()
    action[field] = value
    with pytest.raises(ValueError, match=message):
        gamepad.validate(action)


def test_bad_flat_actions_name_the_field():
    vector = gamepad.noop_flat()
    vector[gamepad.FLAT_NAMES.index("right_trigger")] = 2.0
    with pytest.raises(ValueError, match=r"'right_trigger' is 2.0, allowed range is \[0.0, 1.0\]"):
        gamepad.validate_flat(vector)
    with pytest.raises(ValueError, match=r"shape \(21,\)"):
        gamepad.validate_flat(np.zeros(20))


def test_missing_and_unknown_fields_are_reported():
    action = gamepad.noop()
    del action["triggers"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['triggers'\]"):
        gamepad.validate(action)
    with pytest.raises(ValueError, match=r"unknown gamepad field\(s\) \['jump'\]"):
        gamepad.validate({**gamepad.noop(), "jump": 1})
    with pytest.raises(ValueError, match="FlatGamepad"):
        gamepad.validate(np.zeros(21))


def test_unknown_button_name_lists_valid_buttons():
    with pytest.raises(ValueError, match=r"unknown button 'jump'; valid buttons are \['south'"):
        gamepad.buttons_from_names(["jump"])


def test_friendly_to_flat_accepts_an_empty_button_list():
    assert not gamepad.to_flat({"buttons": []}).any()
