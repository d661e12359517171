"""imitation bridge: export to TrajectoryWithRew (N + 1 obs), import back, and train BC on the export."""

import gymnasium as gym
import numpy as np
import pytest
from fixtures.dataset_factories import OBS_SIZE, make_episodes, write_dataset

from nitrogen_datasets.errors import InvalidEpisode
from nitrogen_datasets.imitation_bridge import from_trajectories, save_trajectories, to_trajectories
from nitrogen_datasets.reader import DemoDataset
from nitrogen_datasets.writer import DatasetWriter, WriterConfig
from nitrogen_envs import gamepad

pytest.importorskip("imitation")


pytestmark = pytest.mark.classic  # also run on the classic stack (README test command)


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


@pytest.mark.slow  # trains imitation's BC: 19 s on 2 busy shared cores
def test_imitation_bc_trains_on_exported_trajectories(dataset, tmp_path):
    import torch
    from imitation.algorithms import bc
    from imitation.data import rollout
    from imitation.util.logger import configure

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
        custom_logger=configure(tmp_path / "logs", []),  # not an empty SB3-<time> folder in the system's tmp
    )
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    trainer.train(n_batches=3, progress_bar=False, log_interval=1000)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.policy.parameters(), strict=True))
    action, _ = trainer.policy.predict(transitions.obs[0], deterministic=True)
    assert action.shape == (21,)


# ---- compact export (nitrogen data export-imitation) ---------------------------------------------------------
def _folder_bytes(folder):
    return sum(path.stat().st_size for path in folder.iterdir())


def test_export_is_read_by_imitation_and_stores_frames_once_uint8(dataset, tmp_path):
    from imitation.data import serialize

    summary = save_trajectories(dataset, tmp_path / "trajs", obs_size=OBS_SIZE)
    loaded = serialize.load(str(tmp_path / "trajs"))  # imitation's own reader, as its users call it
    expected = to_trajectories(dataset)
    assert summary.trajectories == 2 and summary.frames == len(dataset) + 2  # N + 1 observations per trajectory
    for got, want in zip(loaded, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(got.obs), want.obs)
        np.testing.assert_array_equal(got.acts, want.acts)
        np.testing.assert_array_equal(got.rews, want.rews)
        assert got.terminal == want.terminal and got.infos[0] == {}
    # serialize.save writes a 32-bit offset beside every pixel (~2.3x the frame); the export stores frames once
    serialize.save(str(tmp_path / "saved"), expected)
    assert _folder_bytes(tmp_path / "saved") > 2 * summary.bytes
    assert summary.bytes_per_frame < 1.2 * OBS_SIZE * OBS_SIZE * 3 + 200


def test_export_resizes_to_the_policys_input_size_by_default(dataset, tmp_path):
    from nitrogen_datasets.imitation_bridge import EXPORT_OBS_SIZE
    from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig
    from nitrogen_policies.training.trajectory_files import read_trajectories

    assert NitroGenConfig().image_size == EXPORT_OBS_SIZE
    summary = save_trajectories(dataset, tmp_path / "trajs", obs_size=16)
    first = next(read_trajectories(tmp_path / "trajs"))
    assert summary.obs_size == 16 and first.obs.shape == (9, 16, 16, 3) and first.obs.dtype == np.uint8
    assert to_trajectories(dataset, obs_size=16)[0].obs.shape == (9, 16, 16, 3)


def test_export_names_each_trajectorys_game_for_finetune(dataset, tmp_path):
    from nitrogen_policies.training.data import import_imitation_trajectories
    from nitrogen_policies.training.trajectory_files import read_trajectories

    save_trajectories(dataset, tmp_path / "trajs", obs_size=OBS_SIZE)
    names = [(t.game, t.task) for t in read_trajectories(tmp_path / "trajs")]
    assert names == [(e.game, e.task) for e in dataset.episodes]
    converted = DemoDataset(import_imitation_trajectories(tmp_path / "trajs", tmp_path / "ds"))
    assert [(e.game, e.task) for e in converted.episodes] == names and len(converted) == len(dataset)


def test_trajectories_that_name_no_game_need_imitation_game(dataset, tmp_path):
    from imitation.data import serialize

    from nitrogen_policies.errors import TrajectoryFileError
    from nitrogen_policies.training.data import import_imitation_trajectories

    serialize.save(str(tmp_path / "trajs"), to_trajectories(dataset))
    with pytest.raises(TrajectoryFileError, match=r"does not name its game; give it with --imitation-game GAME"):
        import_imitation_trajectories(tmp_path / "trajs", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    import_imitation_trajectories(tmp_path / "trajs", tmp_path / "ds", game="CoinRun")
    assert DemoDataset(tmp_path / "ds").info.games == ("CoinRun",)


def test_a_rerun_reuses_the_conversion_instead_of_appending_it_again(dataset, tmp_path):
    """finetune --imitation converts into the run folder; resuming the run used to append every episode again."""
    from nitrogen_policies.errors import TrajectoryFileError
    from nitrogen_policies.training.data import import_imitation_trajectories

    save_trajectories(dataset, tmp_path / "trajs", obs_size=OBS_SIZE)
    for _ in range(2):
        import_imitation_trajectories(tmp_path / "trajs", tmp_path / "ds")
    assert len(DemoDataset(tmp_path / "ds")) == len(dataset)
    with pytest.raises(TrajectoryFileError, match=r"ds already exists and is not the conversion of .*trajs"):
        import_imitation_trajectories(tmp_path / "trajs", tmp_path / "ds", game="Pong")


def test_an_interrupted_export_leaves_nothing(dataset, tmp_path, monkeypatch):
    import nitrogen_datasets.imitation_bridge as bridge

    real = bridge.episode_arrays
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bridge, "episode_arrays", failing)
    with pytest.raises(KeyboardInterrupt):
        save_trajectories(dataset, tmp_path / "trajs")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "is not a games file written by export-imitation"),
        ('{"format": "other", "trajectories": []}', "is not a games file"),
        ('{"format": "nitrogen-imitation-export/1", "trajectories": [{"game": "A", "task": "t"}]}', "names 1 traj"),
        ('{"format": "nitrogen-imitation-export/1", "trajectories": [{"game": 3, "task": "t"}, {}]}', "is not a games"),
        (
            '{"format": "nitrogen-imitation-export/1", "trajectories": [{"game": "\\u001b[2J", "task": "t"}]}',
            "printable",
        ),
    ],
)
def test_a_bad_games_file_is_a_one_line_error(dataset, tmp_path, content, message):
    from nitrogen_datasets.imitation_bridge import GAMES_FILE
    from nitrogen_policies.errors import TrajectoryFileError
    from nitrogen_policies.training.trajectory_files import read_trajectories

    save_trajectories(dataset, tmp_path / "trajs", obs_size=8)
    (tmp_path / "trajs" / GAMES_FILE).write_text(content)
    with pytest.raises(TrajectoryFileError, match=message) as caught:
        list(read_trajectories(tmp_path / "trajs"))
    assert "\n" not in str(caught.value)


def test_export_imitation_command(dataset, tmp_path):
    from click.testing import CliRunner

    from nitrogen_datasets.cli import data

    run = CliRunner().invoke(data, ["export-imitation", str(dataset.root), "--out", str(tmp_path / "t"), "--quiet"])
    assert run.exit_code == 0, run.output
    assert "exported 2 trajectories (18 frames at 128 px" in run.output and "kB per frame" in run.output
    for args, message in [
        ([str(dataset.root), "--out", str(tmp_path / "t")], "already exists; give a new --out folder"),
        ([str(tmp_path / "missing"), "--out", str(tmp_path / "u")], "no dataset at"),
        ([str(dataset.root), "--out", str(tmp_path / "u"), "--obs-size", "4"], "at least 8"),
    ]:
        run = CliRunner().invoke(data, ["export-imitation", *args, "--quiet"])
        assert run.exit_code != 0 and message in run.output and "Traceback" not in run.output, run.output
