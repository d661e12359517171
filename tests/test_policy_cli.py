"""`nitrogen train` / `finetune` / `evaluate` end to end on a tiny dataset, as a user runs them."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
from fixtures.dataset_factories import make_episodes, write_dataset

TINY = ["--set", "d_model=64", "--set", "n_heads=4", "--set", "n_layers=1", "--set", "image_size=32",
        "--set", "cnn_channels=[16, 32]", "--set", "chunk_size=4", "--set", "n_action_steps=2"]  # fmt: skip


def nitrogen(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "nitrogen_envs.cli", *args], capture_output=True, text=True, timeout=timeout
    )


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
def test_finetune_from_imitation_trajectories(tmp_path):
    pytest.importorskip("imitation")
    from imitation.data import serialize

    from nitrogen_datasets.imitation_bridge import to_trajectories
    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_policies import NitroGenPolicy

    data = write_dataset(tmp_path / "demos", make_episodes(count=2, steps=8))
    serialize.save(str(tmp_path / "trajs"), to_trajectories(DemoDataset(data)))
    NitroGenPolicy.from_config(
        "nitrogen-s", d_model=64, n_heads=4, n_layers=1, image_size=32, cnn_channels=(16, 32)
    ).save_pretrained(tmp_path / "base")
    run = nitrogen("finetune", "--from", str(tmp_path / "base"), "--imitation", str(tmp_path / "trajs"), "--imitation-game", "CoinRun",
                   "--out", str(tmp_path / "ft"), "--steps", "2", "--batch-size", "4", "--workers", "0")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ft" / "imitation_data" / "00" / "meta" / "info.json").is_file()
    assert (tmp_path / "ft" / "final" / "model.safetensors").is_file()
