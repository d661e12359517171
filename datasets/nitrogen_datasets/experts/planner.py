"""A save-state lookahead planner for games with save states (Procgen, Atari); no learning.

Every ``commit`` steps the planner snapshots the game, rolls out ``candidates`` native-action
sequences of ``horizon`` steps in a frame-free simulator (:mod:`.simulators`), scores each by its
clipped, discounted return plus a bonus when the task's success criterion is reached and a penalty
when a life or the episode is lost, and plays the first ``commit`` actions of the best one. One
candidate always continues the previous best plan, so a good plan is not forgotten between commits.
When no rollout finds anything rewarding, the planner explores: it picks the rollout that ends somewhere
new (:meth:`PlannerExpert._novelty`), by the picture in scrolling games and by the agent's displacement
in fixed-camera ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from nitrogen_datasets.experts.base import episode_rng, native_action_count, unwrap
from nitrogen_datasets.experts.errors import ExpertNotReset
from nitrogen_datasets.experts.simulators import Simulator, make_simulator
from nitrogen_envs import gamepad

logger = logging.getLogger(__name__)


@dataclass
class PlannerConfig:
    """Random-shooting planner settings.

    Args:
        candidates: action sequences rolled out per planning step (more finds rarer solutions, slower).
        horizon: env steps per rollout; must reach past the next reward for sparse games.
        commit: actions played from the best sequence before planning again (<= ``horizon``).
        max_repeat: a candidate holds each random action for 1..``max_repeat`` steps, which makes long
            jumps and runs reachable by chance (1 = independent actions every step).
        discount: per-step discount of rewards inside a rollout (prefers earlier rewards).
        reward_clip: rewards are clipped to [-reward_clip, reward_clip] when scoring, so games with
            large point values (Space Invaders) weigh the same as Pong; ``None`` keeps raw rewards.
        success_bonus: added when a rollout reaches the task's success criterion.
        failure_penalty: subtracted when a rollout loses a life or ends the episode without success.
        max_horizon: when no candidate scores above zero (no reward in reach), the planner samples
            again with twice the horizon, up to this many steps, before settling (sparse games).
        explore: when still nothing rewarding is in reach, pick the surviving rollout whose final frame
            is least like the places visited this episode (simulators with frame signatures only: Procgen),
            instead of continuing a blind plan; finds goals that lie beyond the horizon.
        hold_candidates: also roll out every native action held for the whole horizon, right after the
            continued plan and before the random candidates. Ties go to the earliest candidate, so wherever
            no random sequence does better the planner keeps its plan or holds one action, as a person
            holding a direction would: labels that a cloned policy can learn from the picture, where the
            winner of 16 random sequences is close to a random label (experiments/bc_diagnosis.py).
        reactive: plan from the hold candidates alone (``candidates`` is then unused): no continued plan and
            no random sequences, and ties go to standing still, then to the lowest native action. With
            ``commit=1`` and ``explore=False`` the action is then a function of the game state alone (no
            random draw, no memory of the plan or of the places visited): labels that differ between two
            pictures only where the states behind them differ (experiments/bc_classifier.py ``--labeller``).
        seed: base seed; with the episode seed it fixes every candidate, so play is deterministic.
    """

    candidates: int = 16
    horizon: int = 40
    commit: int = 8
    max_repeat: int = 4
    discount: float = 0.99
    reward_clip: float | None = 1.0
    success_bonus: float = 100.0
    failure_penalty: float = 20.0
    max_horizon: int = 160
    explore: bool = True
    hold_candidates: bool = False
    reactive: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.horizon < 1 or self.max_repeat < 1:
            raise ValueError(
                f"candidates, horizon and max_repeat must be >= 1, got {self.candidates}, {self.horizon}, "
                f"{self.max_repeat}"
            )
        if not 1 <= self.commit <= self.horizon:
            raise ValueError(f"commit ({self.commit}) must be between 1 and horizon ({self.horizon})")
        if self.max_horizon < self.horizon:
            raise ValueError(f"max_horizon ({self.max_horizon}) must be >= horizon ({self.horizon})")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")
        if self.reward_clip is not None and self.reward_clip <= 0:
            raise ValueError(f"reward_clip must be positive or None, got {self.reward_clip}")
        if self.success_bonus < 0 or self.failure_penalty < 0:
            raise ValueError(
                f"success_bonus ({self.success_bonus}) and failure_penalty ({self.failure_penalty}) must be >= 0"
            )


class PlannerExpert:
    """Plays Procgen and Atari games by save-state lookahead (see the module docstring).

    Args:
        config: planner settings; defaults as in :class:`PlannerConfig`.

    Example:
        >>> import gymnasium as gym
        >>> env = gym.make("NitroGen/CoinRun-v0", task="easy", obs_size=32)  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
        >>> expert = PlannerExpert(PlannerConfig(seed=0))  # doctest: +SKIP
        >>> expert.reset(env, seed=0)  # doctest: +SKIP
        >>> obs, *_ = env.step(expert.act(obs, info))  # doctest: +SKIP
    """

    def __init__(self, config: PlannerConfig | None = None) -> None:
        self.config = config if config is not None else PlannerConfig()
        self._env: Any = None
        self._sim: Simulator | None = None
        self._rng = np.random.default_rng(self.config.seed)
        self._plan: list[int] = []
        self._queue: list[int] = []
        self._actions: list[gamepad.GamepadDict] = []
        self._weights: np.ndarray = np.ones(0)
        self._visited: list[np.ndarray] = []
        self._hold_order: list[int] = []

    def reset(self, env: gym.Env, seed: int | None) -> None:
        """Bind to ``env`` (Procgen or Atari), build its simulator and reseed the candidate sampler."""
        base = unwrap(env, engines=("procgen", "ale"))
        if self._sim is not None and base is not self._env:
            self._sim.close()
            self._sim = None
        if self._sim is None:
            self._sim = make_simulator(base)
        self._env = base
        self._rng = episode_rng(self.config.seed, seed)
        self._plan, self._queue, self._visited = [], [], []
        n_actions = native_action_count(base)
        self._actions = [base.native_to_gamepad(i) for i in range(n_actions)]
        idle = [i for i, action in enumerate(self._actions) if not gamepad.to_flat(action).any()]
        self._hold_order = idle[:1] + [i for i in range(n_actions) if i not in idle[:1]]
        self._weights = self.config.discount ** np.arange(self.config.max_horizon)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> gamepad.GamepadDict:
        """The next action of the committed plan, planning again when the commitment is used up."""
        if self._sim is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        if not self._queue:
            self._replan()
        native = self._queue.pop(0)
        return {key: value.copy() for key, value in self._actions[native].items()}

    def close(self) -> None:
        """Free the simulator."""
        if self._sim is not None:
            self._sim.close()
            self._sim = None

    def _require_sim(self) -> Simulator:
        if self._sim is None:
            raise ExpertNotReset("call expert.reset(env, seed) after env.reset() and before act()")
        return self._sim

    # -- planning ---------------------------------------------------------------------------------------
    def _sample(self, prefix: list[int], horizon: int) -> list[int]:
        """A candidate: ``prefix`` then random actions held for random durations, ``horizon`` long."""
        cfg, n_actions = self.config, len(self._actions)
        seq = list(prefix[:horizon])
        while len(seq) < horizon:
            action = int(self._rng.integers(n_actions))
            seq.extend([action] * int(self._rng.integers(1, cfg.max_repeat + 1)))
        return seq[:horizon]

    def _holds(self, horizon: int) -> list[list[int]]:
        """One candidate per native action, held for ``horizon`` steps (none unless ``hold_candidates``).

        In ``reactive`` mode the idle action comes first, so that it wins every tie: where no hold is better
        than another, the label is "stand still", not whichever action happens to have index 0.
        """
        if self.config.reactive:
            return [[action] * horizon for action in self._hold_order]
        return [[action] * horizon for action in range(len(self._actions))] if self.config.hold_candidates else []

    def _sample_all(self, count: int, horizon: int) -> list[list[int]]:
        """``count`` random candidates (none in ``reactive`` mode)."""
        return [] if self.config.reactive else [self._sample([], horizon) for _ in range(count)]

    def _score(self, seq: list[int]) -> tuple[float, np.ndarray | None]:
        """Clipped discounted return of ``seq`` from the root, with the success bonus and failure penalty.

        Also returns the frame signature where the rollout ended (``None`` when it ended the episode or
        the simulator has no signatures), for exploration.
        """
        cfg, sim = self.config, self._require_sim()
        sim.restore()
        total = 0.0
        for t, native in enumerate(seq):
            step = sim.step(native)
            reward = (
                step.reward
                if cfg.reward_clip is None
                else float(np.clip(step.reward, -cfg.reward_clip, cfg.reward_clip))
            )
            total += self._weights[t] * reward
            if step.success:
                return total + self._weights[t] * cfg.success_bonus, None
            if step.failed:
                return total - self._weights[t] * cfg.failure_penalty, None
            if step.done:
                return total, None
        return total, self._signature(sim)

    def _signature(self, sim: Simulator) -> np.ndarray | None:
        signature = getattr(sim, "signature", None)
        return signature() if self.config.explore and signature is not None else None

    def _novelty(self, ends: list[np.ndarray | None]) -> list[float]:
        """How new the place where each rollout ended is, against every frame visited (-1 when unknown).

        With a camera that follows the agent, the picture itself tells places apart: the distance to the
        nearest visited thumbnail. With a fixed camera (the whole maze in view), two frames differ only
        where the agent was and is, by a similar amount wherever it went, so the thumbnail distance
        cannot tell near from far; there the novelty is the agent's displacement from the nearest
        visited frame, read off the two blobs of their difference (:func:`blob_spread`). The visited
        frames and the camera test are the same for every rollout of a planning step, so they are
        prepared once.
        """
        if not self._visited:
            return [-1.0] * len(ends)
        visited = np.stack(self._visited)
        fixed = fixed_camera(visited)
        scores = []
        for end in ends:
            if end is None:
                scores.append(-1.0)
            elif fixed:
                scores.append(float(blob_spread(np.abs(visited - end)).min()))
            else:
                scores.append(float(np.abs(visited - end).mean(axis=(1, 2)).min()))
        return scores

    def _replan(self) -> None:
        sim = self._require_sim()
        sim.sync()
        cfg = self.config
        sim.restore()
        here = self._signature(sim)
        if here is not None:
            self._visited.append(here)
        horizon = cfg.horizon
        candidates = [] if cfg.reactive else [self._sample(self._plan[cfg.commit :], horizon)]
        candidates += self._holds(horizon)
        candidates += self._sample_all(cfg.candidates - 1, horizon)
        outcomes = [self._score(seq) for seq in candidates]
        while max(score for score, _ in outcomes) <= 0.0 and horizon < cfg.max_horizon:
            # Nothing rewarding in reach: look further before committing to a blind move.
            horizon = min(2 * horizon, cfg.max_horizon)
            extra = self._holds(horizon) + self._sample_all(cfg.candidates, horizon)
            candidates += extra
            outcomes += [self._score(seq) for seq in extra]
        sim.restore()
        scores = [score for score, _ in outcomes]
        if max(scores) <= 0.0 and self._visited:
            # Still nothing: among rollouts that lose nothing, go where the picture is newest.
            novelty = self._novelty([end if score == 0.0 else None for score, end in outcomes])
            scores = [new if score == 0.0 else score - 1.0 for (score, _), new in zip(outcomes, novelty, strict=True)]
        best = int(np.argmax(scores))  # ties go to the earliest candidate: the continued plan (reactive: idle)
        self._plan = candidates[best]
        self._queue = self._plan[: cfg.commit]
        logger.debug("planned: best score %.2f of %d candidates", scores[best], len(scores))


FIXED_CAMERA_CHANGE = 0.1
"""Largest fraction of thumbnail cells that may differ between the first visited frame and any later one
in a fixed-camera game (only the agent and a few sprites move); a scrolling game changes almost every
cell as soon as it scrolls, and counts as moving from then on even where it stands still for a while."""
CELL_CHANGE = 0.04
"""Change of a thumbnail cell's grey level (0-1) that counts as the picture changing there."""


def fixed_camera(visited: np.ndarray) -> bool:
    """Whether the frames visited so far (N x 16 x 16 thumbnails) come from a camera that does not move."""
    if len(visited) < 2:
        return False
    changed = np.abs(visited[1:] - visited[0]) > CELL_CHANGE
    return bool(changed.mean(axis=(1, 2)).max() < FIXED_CAMERA_CHANGE)


def blob_spread(diffs: np.ndarray) -> np.ndarray:
    """Manhattan distance (thumbnail cells) between the two strongest separate blobs of each difference map.

    ``diffs`` is N x H x W: |frame - visited frame|. When only the agent moved, the map has a blob where
    it was and one where it is; their distance is how far it went. One blob (it barely moved) or none
    gives 0. Blobs are the strongest cell, then the strongest cell more than one cell away from it that
    reaches a third of its strength.
    """
    n, height, width = diffs.shape
    flat = diffs.reshape(n, -1)
    first = flat.argmax(axis=1)
    fy, fx = np.divmod(first, width)
    ys, xs = np.divmod(np.arange(height * width), width)
    far = (np.abs(ys[None] - fy[:, None]) > 1) | (np.abs(xs[None] - fx[:, None]) > 1)
    masked = np.where(far, flat, 0.0)
    second = masked.argmax(axis=1)
    sy, sx = np.divmod(second, width)
    peak = flat[np.arange(n), first]
    strong = (masked[np.arange(n), second] >= peak / 3) & (peak > CELL_CHANGE)
    return np.where(strong, np.abs(sy - fy) + np.abs(sx - fx), 0).astype(np.float32)
