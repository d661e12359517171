"""The trainer starts its loader's workers before building the model, without changing what a run computes."""

import multiprocessing

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fixtures.tiny_policy import TINY_POLICY as TINY  # noqa: E402

from nitrogen_envs import gamepad  # noqa: E402
from nitrogen_policies.training import TrainConfig, train  # noqa: E402
from nitrogen_policies.training.sampling import ResumableRandomSampler  # noqa: E402
from nitrogen_policies.training.trainer import draws_from_own_generator, infinite  # noqa: E402


class Frames(torch.utils.data.Dataset):
    """Random frames and actions; optionally signals an event from whichever process reads an item."""

    def __init__(self, n=32, event=None):
        rng = np.random.default_rng(0)
        self.frames = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        self.actions = rng.uniform(-1, 1, size=(n, 4, gamepad.FLAT_SIZE)).astype(np.float32)
        self.event = event

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        if self.event is not None:
            self.event.set()
        return {"frames": torch.from_numpy(self.frames[i]), "actions": torch.from_numpy(self.actions[i])}


class UnknownSampler(torch.utils.data.Sampler):
    """The trainer's shuffling behind a type it does not know, so it starts the loader late, after the model."""

    def __init__(self, size, seed):
        self.inner = ResumableRandomSampler(size, seed=seed)

    def __iter__(self):
        return iter(self.inner)

    def __len__(self):
        return len(self.inner)


def config(tmp_path, name, **kw):
    base = {"out": str(tmp_path / name), "policy_overrides": TINY, "steps": 12, "batch_size": 8, "lr": 3e-3,
            "warmup_steps": 2, "num_workers": 0, "log_every": 4, "save_every": 10**6, "progress": False}  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_the_first_batches_are_being_read_before_the_first_next():
    event = multiprocessing.get_context("fork").Event()
    loader = torch.utils.data.DataLoader(
        Frames(event=event), batch_size=4, num_workers=1, multiprocessing_context="fork"
    )
    batches = infinite(loader)
    assert event.wait(timeout=120), "no worker read an item before the first next()"
    assert next(batches)["frames"].shape == (4, 32, 32, 3)


def test_starting_the_loader_early_trains_the_same_run_as_starting_it_after_the_model(tmp_path):
    early = train(config(tmp_path, "early"), Frames())
    late = train(config(tmp_path, "late"), Frames(), UnknownSampler(32, seed=0))
    assert early.final_loss == late.final_loss
    assert 0.0 <= early.steady_data_wait_fraction <= 1.0


def test_only_samplers_with_their_own_generator_start_before_the_model():
    assert draws_from_own_generator(ResumableRandomSampler(8))
    assert draws_from_own_generator(torch.utils.data.DistributedSampler(Frames(), num_replicas=1, rank=0))
    # A weighted mixture draws from torch's global RNG: starting it early would change the model's initial weights.
    assert not draws_from_own_generator(torch.utils.data.WeightedRandomSampler([1.0, 2.0], num_samples=2))
