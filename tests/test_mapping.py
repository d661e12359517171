import numpy as np
import pytest
from fixtures.games import game_params, make

from nitrogen_envs import gamepad
from nitrogen_envs.engines.ale import ATARI_TABLE
from nitrogen_envs.engines.crafter import CRAFTER_TABLE
from nitrogen_envs.engines.procgen import PROCGEN_TABLE
from nitrogen_envs.mapping import Binding, ChoiceTable, read_controls


@pytest.mark.parametrize("table", [PROCGEN_TABLE, ATARI_TABLE, CRAFTER_TABLE], ids=["procgen", "atari", "crafter"])
def test_every_native_action_round_trips_through_its_gamepad_action(table):
    for index in range(len(table.bindings)):
        assert table.to_native(table.to_gamepad(index)) == index, table.bindings[index]


@pytest.mark.parametrize("game", game_params())
def test_native_actions_round_trip_through_the_gamepad_for_every_game(game):
    env = make(game)
    try:
        base = env.unwrapped
        space = base.native_action_space()
        for native in range(space.n):
            action = base.native_to_gamepad(native)
            assert gamepad.dict_space().contains(action)
            assert base.gamepad_to_native(action) == native
        assert base.mapping_rows(), "every game documents its mapping"
    finally:
        env.close()


def test_dead_zone_and_dpad_produce_directions():
    action = gamepad.make_action(left_stick=(0.49, -0.5))
    assert read_controls(action).move == (0, -1)
    action = gamepad.make_action(["dpad_right", "dpad_up"])
    assert read_controls(action).move == (1, 1)


def test_stick_wins_over_a_contradicting_dpad():
    action = gamepad.make_action(["dpad_left"], left_stick=(1.0, 0.0))
    assert read_controls(action).move == (1, 0)


def test_triggers_count_as_inputs_when_half_pressed():
    controls = read_controls(gamepad.make_action(triggers=(0.5, 0.2)))
    assert controls.inputs == frozenset({"left_trigger"})


def test_procgen_diagonal_plus_button():
    # Diagonals and keys tie on specificity; the earlier row (the diagonal) wins, documented in the engine.
    action = gamepad.make_action(["south"], left_stick=(1.0, 1.0))
    assert PROCGEN_TABLE.names[PROCGEN_TABLE.to_native(action)] == "RIGHT+UP"
    action = gamepad.make_action(["south"], left_stick=(1.0, 0.0))
    assert PROCGEN_TABLE.names[PROCGEN_TABLE.to_native(action)] == "D"


def test_atari_combines_direction_and_fire():
    action = gamepad.make_action(["south"], left_stick=(-1.0, -1.0))
    assert ATARI_TABLE.names[ATARI_TABLE.to_native(action)] == "DOWNLEFTFIRE"


def test_crafter_trigger_modifiers_select_crafting():
    action = gamepad.make_action(["west"], triggers=(0.0, 1.0))
    assert CRAFTER_TABLE.names[CRAFTER_TABLE.to_native(action)] == "make_wood_pickaxe"
    action = gamepad.make_action(["west"])
    assert CRAFTER_TABLE.names[CRAFTER_TABLE.to_native(action)] == "place_table"


def test_bindings_reject_unknown_inputs():
    with pytest.raises(ValueError, match="unknown input 'jump'"):
        Binding("X", inputs=("jump",))


def test_unmatched_input_falls_back_to_noop():
    table = ChoiceTable(bindings=(Binding("NOOP"), Binding("FIRE", inputs=("south",))))
    assert table.to_native(gamepad.make_action(["north"])) == 0
    assert np.all(table.to_gamepad(0)["buttons"] == 0)
