"""PPO from reward (Stable-Baselines3) on the flat gamepad action space, saved without pickle.

SB3's own ``.zip`` checkpoints hold cloudpickled objects; we store the policy's tensors as safetensors and
the hyperparameters as JSON, and rebuild the same PPO to load them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from nitrogen_envs import FlatGamepad
from nitrogen_envs.registry import get_game
from nitrogen_policies.baselines import LOG_FOLDER
from nitrogen_policies.errors import InvalidConfig

logger = logging.getLogger(__name__)


@dataclass
class PPOConfig:
    """PPO baseline settings.

    Args:
        game: game name or env id. task: task (default: the game's).
        timesteps: environment steps of training. n_envs: parallel envs (subprocesses when > 1).
        obs_size: observation size for SB3's CNN (64 keeps CPU training practical).
        n_steps, batch_size, learning_rate: PPO hyperparameters. seed: everything is seeded from it.
    """

    game: str
    task: str | None = None
    timesteps: int = 100_000
    n_envs: int = 1
    obs_size: int = 64
    n_steps: int = 256
    batch_size: int = 64
    learning_rate: float = 2.5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        get_game(self.game)
        if self.timesteps < 1 or self.n_envs < 1:
            raise InvalidConfig(f"timesteps and n_envs must be >= 1, got {self.timesteps} and {self.n_envs}")


def _make_vec_env(config: PPOConfig) -> Any:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    env_id = get_game(config.game).env_id

    def make() -> gym.Env:
        return FlatGamepad(gym.make(env_id, task=config.task, obs_size=config.obs_size))

    vec_cls = SubprocVecEnv if config.n_envs > 1 else DummyVecEnv
    return make_vec_env(make, n_envs=config.n_envs, seed=config.seed, vec_env_cls=vec_cls)


def _build(config: PPOConfig, env: Any) -> Any:
    from stable_baselines3 import PPO

    return PPO(
        "CnnPolicy", env, n_steps=config.n_steps, batch_size=config.batch_size, learning_rate=config.learning_rate,
        seed=config.seed, verbose=0, device="cpu",
    )  # fmt: skip


def _progress_callback(total: int, enabled: bool) -> Any:
    """An SB3 callback that drives the package's progress bar (ETA on a terminal, lines in logs)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from nitrogen_envs.progress import progress_bar

    class ProgressCallback(BaseCallback):  # type: ignore[misc]
        def _on_training_start(self) -> None:
            self.bar = progress_bar(total, "PPO", unit="step", enabled=enabled)

        def _on_step(self) -> bool:
            self.bar.update(self.training_env.num_envs)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    return ProgressCallback()


def train_ppo(config: PPOConfig, out: str | Path, progress: bool = True) -> Path:
    """Train PPO and save ``ppo_config.json`` + ``policy.safetensors`` into ``out`` (``progress``: a bar on stderr).

    SB3's training statistics go to ``out/logs/progress.csv``: left to itself, SB3 makes an empty ``SB3-<time>``
    folder in the system's temporary directory on every run.
    """
    from safetensors.torch import save_model
    from stable_baselines3.common.logger import configure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = _make_vec_env(config)
    try:
        model = _build(config, env)
        model.set_logger(configure(str(out / LOG_FOLDER), ["csv"]))
        model.learn(total_timesteps=config.timesteps, callback=_progress_callback(config.timesteps, progress))
        # save_model de-duplicates the feature extractor SB3 shares between actor and critic.
        save_model(model.policy, str(out / "policy.safetensors"))
        (out / "ppo_config.json").write_text(json.dumps(asdict(config), indent=2))
    finally:
        env.close()
    return out


def load_ppo(folder: str | Path) -> Any:
    """Rebuild a trained PPO from its folder (safetensors + JSON; nothing is unpickled)."""
    from safetensors.torch import load_model

    folder = Path(folder)
    config = PPOConfig(**json.loads((folder / "ppo_config.json").read_text()))
    env = _make_vec_env(PPOConfig(**{**asdict(config), "n_envs": 1}))
    model = _build(config, env)
    load_model(model.policy, str(folder / "policy.safetensors"))
    env.close()
    return model
