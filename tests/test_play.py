"""Human play and human rendering, headless through SDL's dummy video driver."""

import gymnasium as gym
import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.games import one_game_per_engine

from nitrogen_envs import gamepad
from nitrogen_envs.play import HumanInput, keys_to_action, play_env

pygame = pytest.importorskip("pygame")


def test_keyboard_map_covers_sticks_buttons_and_triggers():
    action = keys_to_action({"right", "up", "space", "3", "j"})
    assert action["left_stick"].tolist() == [1.0, 1.0]
    assert action["right_stick"].tolist() == [-1.0, 0.0]
    assert action["triggers"].tolist() == [0.0, 1.0]
    assert gamepad.pressed_names(action) == ["south"]
    assert gamepad.dict_space().contains(action)


def test_opposite_keys_cancel():
    assert keys_to_action({"left", "right"})["left_stick"].tolist() == [0.0, 0.0]


def test_key_events_drive_the_game_and_escape_quits():
    source = HumanInput.create(use_controller=False)
    pygame.display.init()
    pygame.display.set_mode((64, 64))
    game = one_game_per_engine()[0]
    env = gym.make(game.env_id, obs_size=64)
    seen = []
    try:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RIGHT))
        result = play_env(env, source, seed=0, max_steps=3, on_step=lambda obs, action, *rest: seen.append(action))
        assert result.steps == 3
        assert seen[0]["left_stick"][0] == 1.0
        pygame.event.post(pygame.event.Event(pygame.KEYUP, key=pygame.K_RIGHT))
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
        result = play_env(env, source, seed=0, max_steps=100)
        assert result.steps == 0 and source.quit_requested
    finally:
        env.close()
        pygame.display.quit()


def test_human_render_mode_opens_a_window():
    game = one_game_per_engine()[0]
    env = gym.make(game.env_id, obs_size=64, render_mode="human")
    try:
        env.reset(seed=0)
        env.step(gamepad.noop())
        assert env.unwrapped._window is not None
        assert pygame.display.get_surface().get_size()[0] >= 64
    finally:
        env.close()


def test_play_command_runs_headless_for_a_few_steps(monkeypatch):
    from nitrogen_envs.cli import cli

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    result = CliRunner().invoke(
        cli, ["play", one_game_per_engine()[0].name, "--max-steps", "5", "--fps", "200", "--no-controller"]
    )
    assert result.exit_code == 0, result.output
    assert "5 steps" in result.output


def test_play_command_without_a_display_explains_why(monkeypatch):
    from nitrogen_envs.cli import cli

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    result = CliRunner().invoke(cli, ["play", "CoinRun"])
    assert result.exit_code != 0
    assert "needs a display" in result.output


def test_render_rgb_array_matches_the_observation():
    game = one_game_per_engine()[0]
    env = gym.make(game.env_id, obs_size=64, render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=0)
        assert np.array_equal(env.render(), obs)
    finally:
        env.close()


def test_play_record_writes_human_demonstrations(tmp_path, monkeypatch):
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_envs.cli import cli

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    game = next(g for g in one_game_per_engine() if g.engine == "vizdoom")  # DoomBasic: episodes end by themselves
    result = CliRunner().invoke(
        cli,
        [
            "play",
            game.name,
            "--record",
            str(tmp_path / "human"),
            "--episodes",
            "1",
            "--max-steps",
            "6",
            "--fps",
            "200",
            "--no-controller",
        ],
    )
    assert result.exit_code == 0, result.output
    dataset = DemoDataset(tmp_path / "human")
    assert len(dataset.episodes) == 1 and dataset.episodes[0].length == 6
    assert dataset.read_episode_table(0).column("source").to_pylist()[0] == "human"
