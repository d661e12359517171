"""`nitrogen train` / `finetune` / `evaluate` end to end on a tiny dataset, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner
from fixtures.dataset_factories import make_episodes, write_dataset
from fixtures.tiny_policy import set_flags, tiny_policy

from nitrogen_envs.cli import cli

TINY = set_flags(tiny_policy(n_layers=1))


def nitrogen(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "nitrogen_envs.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow  # train, finetune and evaluate commands: 18 s in a full run on 2 shared cores
def test_train_then_finetune_then_evaluate(tmp_path):
    data = write_dataset(tmp_path / "demos", make_episodes(count=2, steps=8))
    run = nitrogen("train", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "6", "--batch-size", "4",
                   "--workers", "0", "--save-every", "3", *TINY)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "trained 6 steps" in run.stdout
    final = tmp_path / "run" / "final"
    assert (final / "model.safetensors").is_file()
    tuned = nitrogen("finetune", "--from", str(final), "--data", str(data), "--out", str(tmp_path / "ft"), "--steps", "2",
                     "--batch-size", "4", "--workers", "0", "--head-only")  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr
    evaluated = nitrogen(
        "evaluate", "--agent", str(tmp_path / "ft" / "final"), "--game", "DoomBasic", "--episodes", "1", "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)[0]["steps"] > 0


def test_train_without_data_explains_what_to_pass(tmp_path):
    run = nitrogen("train", "--out", str(tmp_path / "run"), "--steps", "1")
    assert run.returncode != 0
    assert "--data DIR" in run.stderr


def test_train_on_a_missing_folder_names_it(tmp_path):
    run = nitrogen("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"), "--steps", "1")
    assert run.returncode != 0
    assert "nope" in run.stderr


@pytest.mark.classic
@pytest.mark.slow  # a finetune run: 8 s in a full run on 2 shared cores
def test_finetune_from_imitation_trajectories(tmp_path):
    pytest.importorskip("imitation")
    from imitation.data import serialize

    from nitrogen_datasets.imitation_bridge import to_trajectories
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_policies import NitroGenPolicy

    data = write_dataset(tmp_path / "demos", make_episodes(count=2, steps=8))
    serialize.save(str(tmp_path / "trajs"), to_trajectories(DemoDataset(data)))
    NitroGenPolicy.from_config("nitrogen-s", **tiny_policy(n_layers=1)).save_pretrained(tmp_path / "base")
    run = nitrogen("finetune", "--from", str(tmp_path / "base"), "--imitation", str(tmp_path / "trajs"), "--imitation-game", "CoinRun",
                   "--out", str(tmp_path / "ft"), "--steps", "2", "--batch-size", "4", "--workers", "0")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ft" / "imitation_data" / "00" / "meta" / "info.json").is_file()
    assert (tmp_path / "ft" / "final" / "model.safetensors").is_file()


@pytest.fixture
def calls(monkeypatch):
    """The (TrainConfig, DataConfig) each command hands the library, without training."""
    import nitrogen_policies.training as training
    from nitrogen_policies.training import TrainResult

    seen = []

    def fake(config, data):
        seen.append((config, data))
        return TrainResult(out=Path(config.out), steps=config.steps, final_loss=0.5,
                           samples_per_second=1.0, data_wait_fraction=0.0)  # fmt: skip

    monkeypatch.setattr(training, "train_on_folders", fake)
    return seen


def test_the_commands_add_no_defaults_of_their_own(calls, tmp_path):
    from nitrogen_policies.training import DataConfig, TrainConfig

    out = str(tmp_path / "run")
    CliRunner().invoke(cli, ["train", "--data", "d", "--out", out, "-q"], catch_exceptions=False)
    CliRunner().invoke(cli, ["finetune", "--from", "ckpt", "--data", "d", "e", "--out", out], catch_exceptions=False)
    assert calls[0] == (TrainConfig(out=out, progress=False), DataConfig(folders=(Path("d"),)))
    assert calls[1] == (TrainConfig(out=out, init_from="ckpt"), DataConfig(folders=(Path("d"), Path("e"))))


def test_each_run_flag_sets_its_train_config_field(calls, tmp_path):
    flags = ["--steps", "7", "--batch-size", "3", "--lr", "0.5", "--workers", "0", "--seed", "9", "--no-amp",
             "--weight-decay", "0.2", "--device", "cpu", "--weights", "2", "--head-only"]  # fmt: skip
    result = CliRunner().invoke(cli, ["finetune", "--from", "c", "--data", "d", "--out", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output
    config, data = calls[0]
    assert (config.steps, config.batch_size, config.lr, config.num_workers, config.seed) == (7, 3, 0.5, 0, 9)
    assert (config.amp, config.weight_decay, config.device, config.head_only) == (False, 0.2, "cpu", True)
    assert data.weights == (2.0,)


def test_bad_flag_values_are_one_line_usage_errors(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", "d", "--out", str(tmp_path), "--steps", "0"])
    assert result.exit_code == 2 and "--steps" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["train", "--data", "a", "b", "--weights", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "got 1 weights for 2 datasets" in result.output


def test_a_bug_inside_training_keeps_its_traceback(monkeypatch, tmp_path):
    import nitrogen_policies.training as training

    def broken(config, data):
        raise ValueError("a bug, not a user mistake")

    monkeypatch.setattr(training, "train_on_folders", broken)
    with pytest.raises(ValueError, match="a bug, not a user mistake"):
        CliRunner().invoke(cli, ["train", "--data", "d", "--out", str(tmp_path)], catch_exceptions=False)


def test_an_unknown_preset_is_one_line_naming_the_presets(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", "d", "--out", str(tmp_path), "--config", "nitrogen-xl"])
    assert result.exit_code == 1
    assert "presets are ['nitrogen-500m', 'nitrogen-s']" in result.output and "Traceback" not in result.output
