"""imitation bridge: export to TrajectoryWithRew (N + 1 obs), import back, and train BC on the export."""

import gymnasium as gym
import numpy as np
import pytest
from fixtures.dataset_factories import OBS_SIZE, make_episodes, write_dataset

from nitrogen_datasets.errors import InvalidEpisode
from nitrogen_datasets.imitation_bridge import from_trajectories, to_trajectories
from nitrogen_datasets.reader import DemoDataset
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_envs import gamepad

pytest.importorskip("imitation")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return DemoDataset(write_dataset(tmp_path_factory.mktemp("imitation") / "demos", make_episodes(2, 8)))


def test_export_repeats_the_last_frame_as_the_final_observation(dataset):
    trajectories = to_trajectories(dataset)
    assert len(trajectories) == 2
    for position, trajectory in enumerate(trajectories):
        assert trajectory.obs.shape == (9, OBS_SIZE, OBS_SIZE, 3) and trajectory.obs.dtype == np.uint8
        assert trajectory.acts.shape == (8, 21) and trajectory.acts.dtype == np.float32
        np.testing.assert_array_equal(trajectory.obs[-1], trajectory.obs[-2])
        np.testing.assert_array_equal(trajectory.rews, dataset.read_episode_table(position).column("reward").to_numpy())


def test_import_of_exported_trajectories_reproduces_the_dataset(dataset, tmp_path):
    trajectories = to_trajectories(dataset)
    writer = DatasetWriter(tmp_path / "copy", WriterConfig(fps=15))
    from_trajectories(trajectories, writer, game="CoinRun", task="hard")
    copy = DemoDataset(tmp_path / "copy")
    assert len(copy) == len(dataset)
    for index in range(len(copy)):
        np.testing.assert_array_equal(copy[index]["actions"].numpy(), dataset[index]["actions"].numpy())
        error = np.abs(copy[index]["frame"].numpy().astype(np.int16) - dataset[index]["frame"].numpy()).mean()
        assert error < 4.0  # a second encode adds codec error once more


def test_import_rejects_non_gamepad_actions(tmp_path):
    from imitation.data.types import Trajectory

    bad = Trajectory(obs=np.zeros((3, 8, 8, 3), np.uint8), acts=np.zeros((2, 4), np.float32), infos=None, terminal=True)
    with pytest.raises(InvalidEpisode, match=r"\(N, 21\) flat gamepad acts.*FlatGamepad"):
        from_trajectories([bad], DatasetWriter(tmp_path / "x"), game="CoinRun", task="hard")


def test_imitation_bc_trains_on_exported_trajectories(dataset):
    import torch
    from imitation.algorithms import bc
    from imitation.data import rollout

    torch.manual_seed(0)
    transitions = rollout.flatten_trajectories(to_trajectories(dataset))
    assert len(transitions) == len(dataset)  # every (frame, action) pair once; the repeated frame is only next_obs
    trainer = bc.BC(
        observation_space=gym.spaces.Box(0, 255, (OBS_SIZE, OBS_SIZE, 3), np.uint8),
        action_space=gamepad.flat_space(),
        demonstrations=transitions,
        rng=np.random.default_rng(0),
        batch_size=4,
        device="cpu",
    )
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    trainer.train(n_batches=3, progress_bar=False, log_interval=1000)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.policy.parameters(), strict=True))
    action, _ = trainer.policy.predict(transitions.obs[0], deterministic=True)
    assert action.shape == (21,)
