"""Baselines and the shared evaluation function."""

import numpy as np
import pytest
from fixtures.games import installed_games

from nitrogen_policies.evaluation import evaluate

GAMES = {g.name for g in installed_games()}


@pytest.fixture
def system_tempdir(tmp_path, monkeypatch):
    """The system temporary directory, pointed at an empty folder (SB3's loggers default into it)."""
    import tempfile

    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def assert_logged_in_run_folder(folder, system_tmp):
    """The trainer's statistics are in the run's ``logs/progress.csv``, and nothing was left in the system's tmp."""
    rows = (folder / "logs" / "progress.csv").read_text().splitlines()
    assert len(rows) >= 2 and "," in rows[0]  # a header and at least one logged row
    assert list(system_tmp.glob("SB3-*")) == []


@pytest.mark.skipif("DoomBasic" not in GAMES, reason="vizdoom not installed")
def test_random_agent_evaluation_is_repeatable_per_seed():
    first = evaluate("random", "NitroGen/DoomBasic-v0", seeds=[0, 1], obs_size=32)
    second = evaluate("random", "NitroGen/DoomBasic-v0", seeds=[0, 1], obs_size=32)
    assert [r.episode_return for r in first] == [r.episode_return for r in second]
    assert all(r.steps > 0 for r in first)


def test_unknown_builtin_agent_is_rejected():
    with pytest.raises(ValueError, match="unknown built-in agent 'smart'"):
        evaluate("smart", "NitroGen/DoomBasic-v0", seeds=[0])


@pytest.mark.skipif("DoomBasic" not in GAMES, reason="vizdoom not installed")
def test_ppo_trains_saves_without_pickle_and_reloads(tmp_path, system_tempdir):
    pytest.importorskip("stable_baselines3")
    from nitrogen_policies.baselines.ppo import PPOConfig, load_ppo, train_ppo

    folder = train_ppo(
        PPOConfig(game="DoomBasic", timesteps=128, n_steps=64, batch_size=32, obs_size=36), tmp_path / "ppo"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["logs", "policy.safetensors", "ppo_config.json"]
    assert_logged_in_run_folder(folder, system_tempdir)
    model = load_ppo(folder)
    results = evaluate(model, "NitroGen/DoomBasic-v0", seeds=[0], obs_size=36, max_steps=20)
    assert results[0].steps == 20
    action, _ = model.predict(np.zeros((36, 36, 3), np.uint8), deterministic=True)
    assert action.shape == (21,)


@pytest.mark.skipif("DoomBasic" not in GAMES, reason="vizdoom not installed")
def test_evaluate_command_reports_each_episode(tmp_path):
    import json

    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    result = CliRunner().invoke(
        cli, ["evaluate", "--agent", "random", "--game", "DoomBasic", "--episodes", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["seed"] for row in rows] == [0, 1]


@pytest.mark.classic
def test_bc_baseline_trains_on_exported_demonstrations_and_acts(tmp_path, system_tempdir):
    pytest.importorskip("imitation")
    from fixtures.dataset_factories import make_episodes, write_dataset

    from nitrogen_policies.baselines.bc import BCConfig, load_bc, train_bc

    data = write_dataset(tmp_path / "demos", make_episodes(count=2, steps=8))
    folder = train_bc(BCConfig(data=[str(data)], n_batches=5, batch_size=4), tmp_path / "bc")
    assert sorted(p.name for p in folder.iterdir()) == ["bc_config.json", "logs", "policy.safetensors"]
    assert_logged_in_run_folder(folder, system_tempdir)
    agent = load_bc(folder)
    action, _ = agent.predict(np.zeros((64, 64, 3), np.uint8), deterministic=True)
    assert action.shape == (21,)
    from nitrogen_envs import gamepad

    assert gamepad.flat_space().contains(action)


def test_ppo_training_shows_progress_lines_off_a_terminal(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    from nitrogen_policies.baselines.ppo import PPOConfig, train_ppo

    train_ppo(PPOConfig(game="CoinRun", timesteps=64, n_steps=32, batch_size=32, obs_size=36), tmp_path / "ppo")
    err = capsys.readouterr().err
    assert "PPO" in err and "64/64" in err and "\r" not in err
