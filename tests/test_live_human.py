"""Recording a person playing a live game: their keys through the game's key map, control keys, the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from nitrogen_envs import gamepad
from nitrogen_envs.live.catalog import get_live_game
from nitrogen_envs.live.human import LiveHumanInput, Win32KeyState


class ScriptedKeys:
    """Key states from a script: one set of held keys per poll (the last one repeats)."""

    def __init__(self, frames: list[set[str]]) -> None:
        self.frames, self.polls, self.closed = frames, 0, False

    def held(self, keys) -> set[str]:
        current = self.frames[min(self.polls, len(self.frames) - 1)]
        self.polls += 1
        return current & set(keys)

    def close(self) -> None:
        self.closed = True


def supertux_input(frames: list[set[str]], **kwargs: Any) -> LiveHumanInput:
    return LiveHumanInput(get_live_game("SuperTux").key_table(), ScriptedKeys(frames), **kwargs)


def test_held_keys_become_the_gamepad_action_the_env_would_send_for_them():
    human = supertux_input([{"right", "space"}, {"left", "ctrl"}, set()])
    first, second, third = human.poll(), human.poll(), human.poll()
    assert np.allclose(first["left_stick"], [1, 0]) and first["buttons"][gamepad.BUTTON_NAMES.index("south")]
    assert np.allclose(second["left_stick"], [-1, 0]) and second["buttons"][gamepad.BUTTON_NAMES.index("west")]
    assert gamepad.to_flat(third).tolist() == gamepad.noop_flat().tolist()
    table = get_live_game("SuperTux").key_table()
    assert table.to_native(first) == [int(name in {"right", "space"}) for name in table.names]


def test_control_keys_fire_once_per_press_and_are_not_recorded():
    human = supertux_input([{"f10"}, {"f10"}, set(), {"f12", "right"}])
    action = human.poll()
    assert human.end_requested and not human.stop_requested
    assert gamepad.to_flat(action).tolist() == gamepad.noop_flat().tolist()
    human.new_episode()
    human.poll()  # still held: not a new press
    assert not human.end_requested
    human.poll()
    human.poll()
    assert human.stop_requested and not human.end_requested


def test_control_key_that_is_a_game_key_is_refused():
    with pytest.raises(ValueError, match="end_key 'space' is one of the game's keys"):
        supertux_input([set()], end_key="space")
    with pytest.raises(ValueError, match="two different keys"):
        supertux_input([set()], end_key="f9", stop_key="f9")
    with pytest.raises(ValueError, match="unknown key"):
        supertux_input([set()], stop_key="f13")


def test_windows_key_state_reads_the_high_bit_of_get_async_key_state():
    calls = []

    def get_async_key_state(vk: int) -> int:
        calls.append(vk)
        return 0x8000 if vk == 0x27 else 0x0001  # right arrow held; bit 0 = "pressed since last call", ignored

    assert Win32KeyState(get_async_key_state).held(["right", "left", "space"]) == {"right"}
    assert sorted(calls) == [0x20, 0x25, 0x27]


class DryLiveEnv(gym.Env):
    """Stands in for a dry-run LiveEnv: frames count the steps, nothing is sent."""

    metadata = {"render_fps": 20}  # noqa: RUF012

    def __init__(self, dry_run: bool = True) -> None:
        self.config = type("Config", (), {"dry_run": dry_run})()
        self.observation_space = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
        self.action_space = gamepad.dict_space()
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {"game": "SuperTux", "task": "play"}

    def step(self, action):
        gamepad.validate(action)
        self.t += 1
        return self._frame(), 0.0, False, False, {"game": "SuperTux", "task": "play"}

    def _frame(self) -> np.ndarray:
        return np.full((16, 16, 3), self.t % 256, dtype=np.uint8)


def test_record_live_saves_episodes_split_by_the_end_key_until_the_stop_key(tmp_path: Path):
    pytest.importorskip("pyarrow")
    from nitrogen_datasets.live_record import record_live
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_datasets.writer import DatasetWriter, WriterConfig

    script = [{"right"}, {"right", "space"}, {"f10"}, set(), {"left"}, {"f12"}, set()]
    human = supertux_input(script)
    with DatasetWriter(tmp_path / "demos", WriterConfig(fps=20)) as writer:
        stats = record_live(DryLiveEnv(), human, writer, episodes=None, max_steps=100)
    assert [e.length for e in stats.episodes] == [3, 3]
    assert all(e.source == "human" and e.seed is None for e in stats.episodes)
    dataset = DemoDataset(tmp_path / "demos")
    first = dataset[0]["actions"]  # the chunk of actions starting at frame 0 of episode 0
    left_x = gamepad.FLAT_NAMES.index("left_x")
    south = gamepad.FLAT_NAMES.index("south")
    assert first[:3, left_x].tolist() == [1.0, 1.0, 0.0]
    assert first[:3, south].tolist() == [0.0, 1.0, 0.0]
    second = dataset[3]["actions"]
    assert second[:3, left_x].tolist() == [0.0, -1.0, 0.0]


def test_record_live_refuses_an_env_that_sends_input(tmp_path: Path):
    pytest.importorskip("pyarrow")
    from nitrogen_datasets.live_record import record_live
    from nitrogen_datasets.writer import DatasetWriter

    with DatasetWriter(tmp_path / "demos") as writer, pytest.raises(ValueError, match="dry_run=True"):
        record_live(DryLiveEnv(dry_run=False), supertux_input([set()]), writer, episodes=1)


def test_play_live_without_record_is_a_usage_error():
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    result = CliRunner().invoke(cli, ["play", "--live", "SuperTux"])
    assert result.exit_code == 2
    assert "add --record DIR" in result.output
