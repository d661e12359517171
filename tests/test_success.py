"""Each engine's success criterion is computed from the real game state and latched in ``info``."""

from types import SimpleNamespace

import numpy as np
import pytest
from fixtures.games import installed_games, make

from nitrogen_envs import NativeActions, gamepad

BY_NAME = {g.name: g for g in installed_games()}


def needs(name):
    return pytest.mark.skipif(name not in BY_NAME, reason=f"{name} engine not installed")


@needs("CoinRun")
@pytest.mark.slow  # plays a Procgen level to the end: 8 s in a full run on 2 shared cores
def test_procgen_success_means_the_level_was_completed():
    env = NativeActions(make(BY_NAME["CoinRun"], obs_size=32))
    env.action_space.seed(0)
    outcomes = []
    try:
        for seed in range(10):
            env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, info = env.step(env.action_space.sample())
                total += reward
                done = terminated or truncated
            outcomes.append((info["success"], total))
            if {s for s, _ in outcomes} == {True, False}:
                break
    finally:
        env.close()
    # CoinRun pays 10 exactly when the coin is reached, i.e. when the level is complete.
    assert all(success == (total == 10.0) for success, total in outcomes), outcomes
    assert {s for s, _ in outcomes} == {True, False}, "random play both wins and loses some CoinRun levels"


@needs("CoinRun")
@pytest.mark.slow  # plays a level to the end: 7 s in a full run on 2 shared cores
def test_procgen_episode_end_keeps_the_last_frame_and_reset_starts_the_next_level():
    env = make(BY_NAME["CoinRun"], obs_size=32)
    try:
        env.reset(seed=3)
        previous, done = None, False
        while not done:
            obs, _, terminated, truncated, _ = env.step(gamepad.make_action(left_stick=(1.0, 0.0)))
            done = terminated or truncated
            if not done:
                previous = obs
        assert np.array_equal(obs, previous), "terminal observation belongs to the finished episode"
        first, info = env.reset()
        assert info["episode_steps"] == 0 and not info["success"]
        assert not np.array_equal(first, obs)
    finally:
        env.close()


@needs("Crafter")
def test_crafter_task_succeeds_rewards_and_ends_when_its_achievement_unlocks():
    env = make(BY_NAME["Crafter"], task="collect_wood")
    try:
        env.reset(seed=0)
        _, reward, terminated, _, info = env.step(gamepad.noop())
        assert (reward, terminated, info["success"]) == (0.0, False, False)
        env.unwrapped._engine._player.achievements["collect_wood"] = 1  # as if a tree was chopped
        _, reward, terminated, _, info = env.step(gamepad.noop())
        assert (reward, terminated, info["success"]) == (1.0, True, True)
    finally:
        env.close()


@needs("Crafter")
def test_crafter_other_achievements_do_not_count():
    env = make(BY_NAME["Crafter"], task="collect_diamond")
    try:
        env.reset(seed=0)
        env.unwrapped._engine._player.achievements["collect_wood"] = 1
        _, reward, terminated, _, info = env.step(gamepad.noop())
        assert (reward, terminated, info["success"]) == (0.0, False, False)
        assert info["crafter_reward"] == 1.0  # Crafter's own reward still sees the unlock
    finally:
        env.close()


class FakeDoom:
    """Stands in for vizdoom.DoomGame after one step, to check the success rules precisely."""

    def __init__(self, finished, dead, timed_out, kills=0, health=100.0, tics=100):
        self.finished, self.dead, self.timed_out = finished, dead, timed_out
        self.kills, self.health, self.tics = kills, health, tics
        self.acted = False

    def is_episode_finished(self):
        return self.finished and self.acted  # the episode ends with the step, as in the engine

    def make_action(self, buttons, tics):
        self.acted = True
        return 1.0

    def get_state(self):
        if self.is_episode_finished():
            return None  # as ViZDoom: no state once the episode is over
        variables = np.array([self.kills, self.health], dtype=np.float64)  # ViZDoom's own type
        return SimpleNamespace(screen_buffer=np.zeros((240, 320, 3), np.uint8), game_variables=variables, tic=self.tics)

    def get_game_variable(self, variable):
        return self.kills if "KILL" in str(variable) else self.health

    def is_player_dead(self):
        return self.dead

    def is_episode_timeout_reached(self):
        return self.timed_out

    def get_episode_time(self):
        return self.tics

    def close(self):
        pass


@pytest.mark.parametrize(
    ("game", "fake", "success", "terminated", "truncated"),
    [
        ("DoomMyWayHome", FakeDoom(finished=True, dead=False, timed_out=False), True, True, False),
        ("DoomMyWayHome", FakeDoom(finished=True, dead=False, timed_out=True), False, False, True),
        ("DoomDeadlyCorridor", FakeDoom(finished=True, dead=True, timed_out=False, health=0.0), False, True, False),
        ("DoomBasic", FakeDoom(finished=True, dead=False, timed_out=False, kills=1), True, True, False),
        ("DoomDefendCenter", FakeDoom(finished=False, dead=False, timed_out=False, kills=9), False, False, False),
        ("DoomDefendCenter", FakeDoom(finished=False, dead=False, timed_out=False, kills=10), True, False, False),
        ("DoomTakeCover", FakeDoom(finished=False, dead=False, timed_out=False, tics=2100), True, False, False),
        (
            "DoomTakeCover",
            FakeDoom(finished=True, dead=True, timed_out=False, health=0.0, tics=900),
            False,
            True,
            False,
        ),
    ],
    ids=["reach", "timeout", "dead", "kill", "9-kills", "10-kills", "survived", "died"],
)
def test_vizdoom_success_rules(game, fake, success, terminated, truncated):
    if game not in BY_NAME:
        pytest.skip("vizdoom not installed")
    env = make(BY_NAME[game])
    real = env.unwrapped._engine
    try:
        env.reset(seed=0)
        env.unwrapped._engine = fake
        _, _, term, trunc, info = env.step(gamepad.noop())
        assert (info["success"], term, trunc) == (success, terminated, truncated)
    finally:
        env.unwrapped._engine = real
        env.close()


@needs("Pong")
def test_atari_success_needs_the_human_reference_score():
    env = make(BY_NAME["Pong"])
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(gamepad.noop())
        assert info["success"] is False
        env.unwrapped._episode_return = 14.6  # as if 14.6 points up
        _, _, _, _, info = env.step(gamepad.noop())
        assert info["success"] is True
        assert info["score_normalized"] > 0.99
    finally:
        env.close()
