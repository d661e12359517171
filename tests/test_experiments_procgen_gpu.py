"""experiments/procgen_gpu.py, the script a GPU lease runs in one command (docs/results.md section 17).

A lease is 15 minutes of device time with no second try, so what the script does before the device is worth
anything must work here: the expert's levels collected in worker processes and stopped by the deadline, the levels
turned into the trainer's samples with every task drawn alike, a few steps of the product trainer on them, and
weights that load.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.repo import load_script

pytest.importorskip("procgen")

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TASKS = [("Ninja", "easy"), ("CoinRun", "easy")]


@pytest.fixture(scope="module")
def procgen_gpu():
    """The script as a module (it puts experiments/ on sys.path for bc_gate), with bc_gate on Procgen."""
    try:
        module = load_script("experiments/procgen_gpu.py", "procgen_gpu")
        module.bc_gate.use_engine("procgen")
        yield module
    finally:
        sys.modules.pop("procgen_gpu", None)


@pytest.fixture(scope="module")
def levels(procgen_gpu):
    """Two seeds of two tasks, collected by two worker processes before a deadline far enough away."""
    procgen_gpu.MAX_LEVELS = 2  # seeds 0 and 1: every job finishes, whatever the machine's speed
    try:
        return procgen_gpu.collect(TASKS, time.time() + 600, workers=2)
    finally:
        procgen_gpu.MAX_LEVELS = 1000


def test_collect_keeps_each_tasks_finished_levels_in_seed_order(levels):
    assert sorted(levels) == ["CoinRun/easy", "Ninja/easy"]
    for rows in levels.values():
        assert [row["seed"] for row in rows] == [0, 1]
        for row in rows:
            frames, labels = row["frames"], row["labels"]
            assert frames.dtype == np.uint8 and frames.shape[1:] == (64, 64, 3)
            assert labels.dtype == np.float32 and labels.shape == (len(frames), 21)


def test_nothing_begins_after_the_deadline(procgen_gpu):
    assert procgen_gpu.play_level(("Ninja", "easy", 0, time.time() - 1)) is None
    assert procgen_gpu.collect(TASKS, time.time() - 1, workers=1) == {"CoinRun/easy": [], "Ninja/easy": []}
    with pytest.raises(SystemExit, match="raise --budget"):
        procgen_gpu.training_data({"Ninja/easy": [], "CoinRun/easy": []})


def test_the_levels_train_the_product_trainer_and_the_weights_load(procgen_gpu, levels, tmp_path):
    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.training import train

    rows = {name: list(task_rows) for name, task_rows in levels.items()}  # training_data empties what it reads
    frames = {name: sum(len(row["frames"]) for row in task_rows) for name, task_rows in rows.items()}
    dataset, sampler = procgen_gpu.training_data(rows)
    assert len(dataset) == sum(frames.values()) and not any(rows.values())
    # Every task is drawn alike, however many frames its levels hold.
    weights = np.asarray(sampler.weights)
    ids = np.asarray(dataset.game_ids)
    per_task = sorted(float(weights[ids == game_id].sum()) for game_id in np.unique(ids))
    assert len(per_task) == 2 and per_task[0] == pytest.approx(per_task[1])
    sample = dataset[0]
    assert set(sample) == {"frames", "actions", "action_mask", "game_id"} and sample["actions"].shape == (1, 21)

    lease = procgen_gpu.LeaseConfig(budget=100, device="cpu", batch_size=8, workers=1, loader_workers=0)
    result = train(procgen_gpu.train_config(lease, tmp_path / "run", 3), dataset, sampler)
    assert np.isfinite(result.final_loss)
    policy = NitroGenPolicy.from_pretrained(tmp_path / "run" / "final")
    action, _ = policy.predict(levels["Ninja/easy"][0]["frames"][0], deterministic=True)
    assert action.shape == (21,) and np.isfinite(action).all()


def test_unknown_tasks_and_bad_budgets_are_refused_in_one_line(procgen_gpu):
    with pytest.raises(SystemExit, match="not tasks the Procgen frame expert passes"):
        procgen_gpu.parse_tasks(["Ninja/medium"])
    assert procgen_gpu.parse_tasks(None) == list(procgen_gpu.bc_gate.PROCGEN_PASSED_TASKS)
    with pytest.raises(SystemExit, match="--budget must exceed"):
        procgen_gpu.LeaseConfig(budget=30)
    with pytest.raises(SystemExit, match=r"--init /nonexistent holds no model\.safetensors"):
        procgen_gpu.LeaseConfig(init="/nonexistent")
