"""Play episodes of an embedded game with a simple agent, optionally recording an mp4.

This is the job behind ``nitrogen rollout`` (and the README's first command).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym

from nitrogen_envs import gamepad
from nitrogen_envs.base import unwrap
from nitrogen_envs.registry import get_game

logger = logging.getLogger(__name__)

AGENTS = ("random", "noop")


@dataclass
class RolloutConfig:
    """What to play and how.

    Args:
        game: game name or env id (``CoinRun`` or ``NitroGen/CoinRun-v0``).
        task: task name; ``None`` is the game's default.
        steps: total env steps to play (episodes restart as needed).
        seed: seed of the first episode; later episodes follow deterministically.
        agent: ``random`` (uniform over the game's native actions, sent as gamepad input) or ``noop``.
        obs_size: observation height and width in pixels.
        video: mp4 path to record every frame to, or ``None``.
        progress: show a progress bar with ETA on stderr (a line every few seconds when it is not a terminal).
    """

    game: str
    task: str | None = None
    steps: int = 500
    seed: int = 0
    agent: str = "random"
    obs_size: int = 256
    video: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.agent not in AGENTS:
            raise ValueError(f"agent must be one of {AGENTS}, got {self.agent!r}")
        get_game(self.game)  # fails early with close matches


@dataclass
class RolloutResult:
    """Outcome of a rollout: finished-episode returns plus the unfinished one."""

    game: str
    task: str
    steps: int
    episode_returns: list[float] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    normalized: list[float] = field(default_factory=list)
    partial_return: float = 0.0
    video: str | None = None

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)


def run_rollout(config: RolloutConfig) -> RolloutResult:
    """Play ``config.steps`` steps and return the scores (and write the video, if asked)."""
    from nitrogen_envs.progress import progress_bar
    from nitrogen_envs.video import VideoWriter

    spec = get_game(config.game)
    env = gym.make(spec.env_id, task=config.task, obs_size=config.obs_size)
    base = unwrap(env)
    native = base.native_action_space()
    native.seed(config.seed)
    result = RolloutResult(game=spec.name, task=base.task_spec.name, steps=config.steps)
    writer = VideoWriter(config.video, fps=spec.native_fps) if config.video else None
    try:
        obs, info = env.reset(seed=config.seed)
        if writer:
            writer.write(obs)
        episode_return = 0.0
        bar = progress_bar(
            config.steps,
            f"{spec.name}/{result.task}",
            unit="step",
            enabled=config.progress,
            iterable=range(config.steps),
        )
        for _ in bar:
            action = base.native_to_gamepad(native.sample()) if config.agent == "random" else gamepad.noop()
            obs, reward, terminated, truncated, info = env.step(action)
            episode_return += float(reward)
            if writer:
                writer.write(obs)
            if terminated or truncated:
                result.episode_returns.append(episode_return)
                result.successes.append(bool(info["success"]))
                if "score_normalized" in info:
                    result.normalized.append(float(info["score_normalized"]))
                logger.info(
                    "episode %d: return %.2f success %s", len(result.episode_returns), episode_return, info["success"]
                )
                episode_return = 0.0
                obs, info = env.reset()
                if writer:
                    writer.write(obs)
        result.partial_return = episode_return
        if writer:
            writer.close()
            result.video = str(config.video)
    except BaseException:
        if writer:
            writer.abort()
        raise
    finally:
        env.close()
    return result
