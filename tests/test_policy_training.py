"""Training: learns a visual rule, logs to TensorBoard, checkpoints without pickle, resumes; its pieces."""

import contextlib
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fixtures.tiny_policy import TINY_POLICY as TINY  # noqa: E402

from nitrogen_envs import gamepad  # noqa: E402
from nitrogen_policies import NitroGenPolicy  # noqa: E402
from nitrogen_policies.errors import InvalidConfig  # noqa: E402
from nitrogen_policies.flow_matching import sample_flow_time  # noqa: E402
from nitrogen_policies.training import DataConfig, TrainConfig, train, train_on_folders  # noqa: E402
from nitrogen_policies.training.metrics import action_metrics  # noqa: E402
from nitrogen_policies.training.sampling import ResumableRandomSampler  # noqa: E402

LEFT = gamepad.to_flat({"left_stick": (-1.0, 0.0)})
RIGHT_JUMP = gamepad.to_flat({"left_stick": (1.0, 0.0), "buttons": ["south"]})


class BrightnessRule(torch.utils.data.Dataset):
    """Dark frames -> hold left; bright frames -> right + jump. Learnable only by looking at the frame."""

    def __init__(self, n=64, seed=0):
        rng = np.random.default_rng(seed)
        self.bright = rng.random(n) < 0.5
        self.noise = rng.integers(0, 40, size=(n, 32, 32, 3), dtype=np.uint8)

    def __len__(self):
        return len(self.bright)

    def __getitem__(self, i):
        frame = self.noise[i] + (200 if self.bright[i] else 10)
        action = RIGHT_JUMP if self.bright[i] else LEFT
        return {
            "frames": torch.from_numpy(frame.astype(np.uint8)),
            "actions": torch.from_numpy(np.tile(action, (4, 1))),
            "action_mask": torch.ones(4, dtype=torch.bool),
            "game_id": torch.tensor(0),
        }


def config(tmp_path, **kw):
    base = {
        "out": str(tmp_path / "run"),
        "policy_overrides": TINY,
        "steps": 120,
        "batch_size": 16,
        "lr": 3e-3,
        "warmup_steps": 10,
        "num_workers": 0,
        "log_every": 20,
        "save_every": 50,
        "progress": False,
    }
    return TrainConfig(**{**base, **kw})


def test_training_learns_a_visual_rule_and_writes_a_loadable_policy(tmp_path):
    result = train(config(tmp_path), BrightnessRule())
    policy = NitroGenPolicy.from_pretrained(result.out / "final")
    data = BrightnessRule(n=16, seed=1)
    frames = np.stack([data[i]["frames"].numpy() for i in range(16)])
    predicted = policy.predict_action_chunk(frames, generator=torch.Generator().manual_seed(0))
    target = np.stack([data[i]["actions"].numpy() for i in range(16)])
    metrics = action_metrics(predicted, target)
    assert metrics["button_accuracy"] >= 0.95, metrics
    assert metrics["stick_r2"] >= 0.8, metrics
    assert list((result.out / "tb").glob("events.out.tfevents.*"))
    assert 0.0 <= result.data_wait_fraction <= 1.0


def test_checkpoints_hold_safetensors_and_a_training_state_read_without_pickle(tmp_path):
    import json

    from safetensors.torch import load_file

    train(config(tmp_path, steps=60), BrightnessRule())
    folder = tmp_path / "run" / "checkpoints" / "step_000050"
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "training_state.json",
        "training_state.safetensors",
    ]
    meta = json.loads((folder / "training_state.json").read_text())
    assert meta["step"] == 50 and meta["param_groups"]
    tensors = load_file(str(folder / "training_state.safetensors"))
    assert "torch_rng" in tensors and any(name.endswith(".exp_avg_sq") for name in tensors)


def test_a_run_whose_checkpoints_hold_the_old_pickled_state_is_refused_unread(tmp_path):
    import pickle

    from nitrogen_policies.errors import CheckpointError

    class Payload:
        def __reduce__(self):
            return ((tmp_path / "ran").write_text, ("unpickled",))

    folder = tmp_path / "run" / "checkpoints" / "step_000050"
    folder.mkdir(parents=True)
    (folder / "training_state.pt").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match=r"training_state\.pt, a pickle .* new --out folder .*finetune --from"):
        train(config(tmp_path, steps=60), BrightnessRule())
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "run" / "checkpoints" / "step_000060").exists()  # nothing restarted over it


def test_a_damaged_training_state_names_the_checkpoint_to_delete(tmp_path):
    from nitrogen_policies.errors import CheckpointError

    train(config(tmp_path, steps=50, save_every=25), BrightnessRule())
    state = tmp_path / "run" / "checkpoints" / "step_000050" / "training_state.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"step_000050 .*delete that checkpoint folder"):
        train(config(tmp_path, steps=80, save_every=25), BrightnessRule())


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, caplog):
    train(config(tmp_path, steps=50, save_every=25), BrightnessRule())
    with caplog.at_level("INFO"):
        result = train(config(tmp_path, steps=80, save_every=25), BrightnessRule())
    assert "resumed from" in caplog.text and "step 50" in caplog.text
    assert result.steps == 80
    assert (tmp_path / "run" / "checkpoints" / "step_000080").is_dir()


def test_head_only_fine_tuning_keeps_the_encoder_fixed(tmp_path):
    base = NitroGenPolicy.from_config("nitrogen-s", **TINY)
    base.save_pretrained(tmp_path / "base")
    before = {k: v.clone() for k, v in base.model.encoder.state_dict().items()}
    result = train(config(tmp_path, steps=20, init_from=str(tmp_path / "base"), head_only=True), BrightnessRule())
    tuned = NitroGenPolicy.from_pretrained(result.out / "final")
    for key, value in tuned.model.encoder.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_bad_training_configs_are_rejected():
    with pytest.raises(ValueError, match="also pass init_from"):
        TrainConfig(head_only=True)
    with pytest.raises(ValueError, match="steps and batch_size must be >= 1"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        TrainConfig(threads=0)


def test_a_run_trains_on_the_thread_count_asked_for_and_gives_the_previous_one_back(tmp_path, monkeypatch):
    import nitrogen_policies.training.trainer as trainer

    seen = []
    real_step = trainer.optimization_step

    def counting_step(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "optimization_step", counting_step)
    before = torch.get_num_threads()
    asked = 2 if before == 1 else 1
    train(config(tmp_path, steps=3, threads=asked), BrightnessRule(n=16))
    assert set(seen) == {asked}
    assert torch.get_num_threads() == before


def test_training_resumes_from_a_checkpoint_to_the_same_loss_curve(tmp_path, monkeypatch):
    import nitrogen_policies.training.trainer as trainer

    def losses_of(run, crash_at=None):
        seen = {}

        class Recorder:
            def add_scalar(self, name, value, step):
                if name == "train/loss":
                    if step == crash_at:
                        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during this step
                    seen[step] = value

            def add_text(self, *args):
                pass

            def close(self):
                pass

        monkeypatch.setattr(trainer, "_tensorboard", lambda *a: Recorder())
        cfg = config(tmp_path, out=str(tmp_path / run), steps=30, save_every=10, log_every=1)
        with contextlib.suppress(KeyboardInterrupt):
            train(cfg, BrightnessRule())
        return seen

    straight = losses_of("straight")
    first = losses_of("interrupted", crash_at=23)  # dies after the step-20 checkpoint
    resumed = losses_of("interrupted")  # picks up at step 20
    assert set(resumed) == set(range(20, 30))
    for step in range(30):
        assert (first if step < 20 else resumed)[step] == straight[step], step


def test_overfits_a_tiny_dataset_to_near_zero_loss(tmp_path):
    result = train(
        config(tmp_path, steps=300, lr=2e-3, batch_size=8, policy_overrides={**TINY, "game_dropout": 0.0}),
        BrightnessRule(n=8),
    )
    assert result.final_loss < 0.05, result.final_loss


class Bimodal(torch.utils.data.Dataset):
    """One frame, two expert behaviours: half the demonstrations go hard left, half hard right."""

    def __len__(self):
        return 64

    def __getitem__(self, i):
        x = -1.0 if i % 2 else 1.0
        return {
            "frames": torch.full((32, 32, 3), 120, dtype=torch.uint8),
            "actions": torch.from_numpy(np.tile(gamepad.to_flat({"left_stick": (x, 0.0)}), (4, 1))),
        }


@pytest.mark.slow  # 1000 steps: a few minutes on 2 cores
def test_bimodal_demonstrations_yield_both_modes_not_their_mean(tmp_path):
    result = train(config(tmp_path, steps=1000, lr=2e-3, policy_overrides={**TINY, "game_dropout": 0.0}), Bimodal())
    policy = NitroGenPolicy.from_pretrained(result.out / "final")
    frames = np.full((128, 32, 32, 3), 120, dtype=np.uint8)
    left_x = policy.predict_action_chunk(frames, generator=torch.Generator().manual_seed(0))[:, 0, 0]
    assert (left_x < -0.5).mean() > 0.2 and (left_x > 0.5).mean() > 0.2, left_x  # both modes are sampled
    assert (np.abs(left_x) < 0.25).mean() < 0.15, left_x  # few at the mean (0), where MSE puts all
    # predict(deterministic=True) plays one demonstrated behaviour too, not the stick at rest between them.
    action, _ = policy.predict(frames[0], deterministic=True)
    assert abs(action[0]) > 0.5, action


def test_the_resumable_sampler_counts_one_epoch_and_resumes_mid_stream():
    sampler = ResumableRandomSampler(10, seed=3)
    loader = torch.utils.data.DataLoader(range(10), batch_size=4, sampler=sampler, drop_last=True)
    assert len(loader) == 2  # batches per epoch, as DataLoader reports for torch's own samplers
    assert len(list(itertools.islice(iter(loader), 7))) == 7  # yet the stream goes on past the epoch
    stream = list(itertools.islice(sampler, 30))
    epochs = [stream[i : i + 10] for i in (0, 10, 20)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)  # each epoch a permutation
    assert epochs[0] != epochs[1]  # a new one each epoch
    assert list(itertools.islice(ResumableRandomSampler(10, seed=3, start=13), 17)) == stream[13:]


@pytest.mark.parametrize(("alpha", "beta"), [(1.5, 1.0), (1.0, 1.5), (2.0, 3.0)])
def test_flow_times_follow_their_beta_distribution_and_come_from_the_generator_only(alpha, beta):
    before = torch.get_rng_state()
    t = sample_flow_time(20000, alpha, beta, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is neither read nor advanced
    mean, total = alpha / (alpha + beta), alpha + beta
    variance = alpha * beta / (total**2 * (total + 1))
    assert float(t.mean()) == pytest.approx(mean, abs=0.01)  # > 5 standard errors at 20000 draws
    assert float(t.var()) == pytest.approx(variance, abs=0.005)
    assert torch.equal(t, t.clamp(1e-3, 1 - 1e-3))  # within [eps, 1 - eps], eps = 1e-3
    assert torch.equal(sample_flow_time(20000, alpha, beta, generator=torch.Generator().manual_seed(0)), t)
    assert not torch.equal(sample_flow_time(20000, alpha, beta, generator=torch.Generator().manual_seed(1)), t)


def test_data_config_rejects_what_a_run_could_not_use():
    with pytest.raises(InvalidConfig, match=r"--data DIR"):
        DataConfig()
    with pytest.raises(InvalidConfig, match="got 1 weights for 2 datasets"):
        DataConfig(folders=("a", "b"), weights=(1.0,))
    with pytest.raises(InvalidConfig, match="weights apply to --data folders only"):
        DataConfig(folders=("a",), weights=(1.0,), imitation=("trajs",))


def test_train_on_folders_trains_the_configured_preset_on_a_weighted_mixture(tmp_path):
    from fixtures.dataset_factories import make_episodes, write_dataset

    first = write_dataset(tmp_path / "a", make_episodes(count=1, steps=8))
    second = write_dataset(tmp_path / "b", make_episodes(count=1, steps=8, seed=5))
    data = DataConfig(folders=(first, second), weights=(1.0, 3.0))
    result = train_on_folders(config(tmp_path, steps=3, batch_size=4), data)
    assert result.steps == 3 and np.isfinite(result.final_loss)
    trained = NitroGenPolicy.from_pretrained(result.out / "final").config
    assert (trained.d_model, trained.chunk_size) == (TINY["d_model"], TINY["chunk_size"])  # preset + overrides


def test_a_frame_cache_trains_on_the_same_samples_to_the_same_loss(tmp_path):
    from fixtures.dataset_factories import make_episodes, write_dataset

    folder = write_dataset(tmp_path / "a", make_episodes(count=2, steps=8))
    data = DataConfig(folders=(folder,))
    decoded = train_on_folders(config(tmp_path / "decoded", steps=4, batch_size=4), data)
    cache = tmp_path / "cache"
    cached = train_on_folders(config(tmp_path / "cached", steps=4, batch_size=4, frame_cache=str(cache)), data)
    assert list(cache.glob("*.frames.npy")), "the run decoded its frames into the cache folder"
    assert cached.final_loss == decoded.final_loss
