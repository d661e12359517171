"""Behaviour cloning with ``imitation`` and a Stable-Baselines3 CNN policy, on our demonstrations.

The same data a NitroGen policy trains on is exported as ``imitation`` trajectories. SB3's CNNs want
channel-first images, so frames are transposed on the way in (and by :class:`BCAgent` at play time).
Weights are saved as safetensors plus a JSON config; nothing is pickled.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_envs import gamepad
from nitrogen_policies.baselines import LOG_FOLDER
from nitrogen_policies.errors import InvalidConfig

logger = logging.getLogger(__name__)


@dataclass
class BCConfig:
    """BC baseline settings.

    Args:
        data: demonstration dataset folders.
        n_batches: gradient steps. batch_size: samples per step. seed: seeds sampling and init.
        learning_rate: Adam learning rate.
        obs_size: frames are resized to this square size (SB3's Nature CNN needs at least 36 pixels).
    """

    data: list[str] = field(default_factory=list)
    obs_size: int = 64
    n_batches: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.data:
            raise InvalidConfig("give at least one dataset folder")
        if self.obs_size < 36:
            raise InvalidConfig(f"obs_size must be >= 36 for SB3's Nature CNN, got {self.obs_size}")
        if self.n_batches < 1 or self.batch_size < 1:
            raise InvalidConfig(f"n_batches and batch_size must be >= 1, got {self.n_batches} and {self.batch_size}")


def _prepare(trajectories: list[Any], size: int) -> list[Any]:
    """Resize frames to ``size`` and make them channel-first, as SB3's CNN policies expect."""
    import dataclasses

    from nitrogen_envs.image import resize_frame

    def convert(obs: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(np.stack([resize_frame(frame, (size, size)) for frame in obs]), -1, 1))

    return [dataclasses.replace(t, obs=convert(t.obs)) for t in trajectories]


def _spaces(height: int, width: int) -> tuple[gym.spaces.Box, gym.spaces.Box]:
    return gym.spaces.Box(0, 255, shape=(3, height, width), dtype=np.uint8), gamepad.flat_space()


def _policy(observation_space: gym.spaces.Box, action_space: gym.spaces.Box, learning_rate: float) -> Any:
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    return ActorCriticCnnPolicy(observation_space, action_space, lr_schedule=lambda _: learning_rate)


def train_bc(config: BCConfig, out: str | Path, progress: bool = True) -> Path:
    """Train BC on the datasets and save ``bc_config.json`` + ``policy.safetensors`` into ``out`` (``progress``: a bar).

    The trainer's statistics go to ``out/logs/progress.csv`` (without a logger, ``imitation`` makes an empty
    ``SB3-<time>`` folder in the system's temporary directory on every run).
    """
    from imitation.algorithms import bc
    from imitation.util.logger import configure
    from safetensors.torch import save_model

    from nitrogen_datasets.imitation_bridge import to_trajectories
    from nitrogen_datasets.reader import DemoDataset

    trajectories = _prepare(
        [t for folder in config.data for t in to_trajectories(DemoDataset(folder))], config.obs_size
    )
    height, width = config.obs_size, config.obs_size
    observation_space, action_space = _spaces(height, width)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = bc.BC(
        observation_space=observation_space,
        action_space=action_space,
        demonstrations=trajectories,
        rng=np.random.default_rng(config.seed),
        policy=_policy(observation_space, action_space, config.learning_rate),
        batch_size=config.batch_size,
        optimizer_kwargs={"lr": config.learning_rate},
        custom_logger=configure(out / LOG_FOLDER, ["csv"]),
    )
    from nitrogen_envs.progress import progress_bar

    with progress_bar(config.n_batches, "BC", unit="batch", enabled=progress) as bar:
        trainer.train(
            n_batches=config.n_batches,
            progress_bar=False,
            log_interval=max(1, config.n_batches // 10),
            on_batch_end=lambda: bar.update(1),
        )
    save_model(trainer.policy, str(out / "policy.safetensors"))
    (out / "bc_config.json").write_text(
        json.dumps({**asdict(config), "height": int(height), "width": int(width)}, indent=2)
    )
    return out


class BCAgent:
    """A trained BC policy with SB3's ``predict`` on channel-last frames (what NitroGen envs return)."""

    def __init__(self, policy: Any, height: int, width: int) -> None:
        self.policy = policy
        self.size = (height, width)

    def predict(
        self, observation: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, None]:
        """Flat gamepad action(s) for (H, W, 3) or (B, H, W, 3) uint8 frames of the training size."""
        from nitrogen_envs.image import resize_frame

        frames = np.asarray(observation)
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        batch = np.stack([resize_frame(frame, self.size) for frame in batch])
        actions, _ = self.policy.predict(np.moveaxis(batch, -1, 1), deterministic=deterministic)
        actions = np.clip(actions, gamepad.FLAT_LOW, gamepad.FLAT_HIGH).astype(np.float32)
        return (actions[0] if single else actions), None


def load_bc(folder: str | Path) -> BCAgent:
    """Rebuild a trained BC policy from safetensors + JSON."""
    from safetensors.torch import load_model

    folder = Path(folder)
    saved = json.loads((folder / "bc_config.json").read_text())
    observation_space, action_space = _spaces(saved["height"], saved["width"])
    policy = _policy(observation_space, action_space, saved["learning_rate"])
    load_model(policy, str(folder / "policy.safetensors"))
    return BCAgent(policy.eval(), saved["height"], saved["width"])
