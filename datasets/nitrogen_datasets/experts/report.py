"""Measure experts against random play: success rate, mean return and normalized score per task.

The same seeds are played by the expert and by :class:`~.base.RandomExpert`, so the two columns
compare the same levels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np

import nitrogen_envs  # noqa: F401  (registers the NitroGen ids)
from nitrogen_datasets.experts.base import Expert
from nitrogen_datasets.experts.registry import default_expert_name, make_expert
from nitrogen_datasets.parallel import run_parallel
from nitrogen_envs.registry import all_games, get_game
from nitrogen_envs.text_table import text_table

logger = logging.getLogger(__name__)


@dataclass
class EpisodeResult:
    """One played episode.

    Args:
        success: the task's success flag at the end of the episode.
        episode_return: the env's episode return.
        steps: env steps played.
        seconds: wall-clock time of the episode, planning included.
    """

    success: bool
    episode_return: float
    steps: int
    seconds: float


@dataclass
class ReportRow:
    """Expert versus random play on one task.

    Args:
        game: registry game name.
        task: task name.
        expert: expert name.
        episodes: episodes per agent.
        success_rate: expert episodes that met the task's criterion, in [0, 1].
        mean_return: expert mean episode return.
        random_success_rate: same for uniform random play on the same seeds.
        random_mean_return: same for random play.
        score_normalized: ``mean_return`` on the env's scale (0 random reference, 1 expert
            reference); ``None`` where the task has no reference.
        expert_steps_per_second: env steps per wall-clock second of the expert, planning included.
    """

    game: str
    task: str
    expert: str
    episodes: int
    success_rate: float
    mean_return: float
    random_success_rate: float | None
    random_mean_return: float | None
    score_normalized: float | None
    expert_steps_per_second: float

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON view of the row."""
        return asdict(self)


def run_episode(
    env: gym.Env, expert: Expert, seed: int, max_steps: int | None = None, stop_on_success: bool = False
) -> EpisodeResult:
    """Play one episode of ``env`` with ``expert`` from ``env.reset(seed=seed)``.

    Args:
        env: a NitroGen env.
        expert: any :class:`~.base.Expert`.
        seed: the episode seed (the same seed gives the same level).
        max_steps: stop after this many steps (``None``: the env's own limits).
        stop_on_success: end the episode when the task's success criterion first holds. ``success`` is
            latched by the env, so the success rate is unchanged; the return is then the return at that point.
    """
    start = time.perf_counter()
    obs, info = env.reset(seed=seed)
    expert.reset(env, seed)
    steps = 0
    while max_steps is None or steps < max_steps:
        obs, _, terminated, truncated, info = env.step(expert.act(obs, info))
        steps += 1
        if terminated or truncated or (stop_on_success and info["success"]):
            break
    return EpisodeResult(bool(info["success"]), float(info["episode_return"]), steps, time.perf_counter() - start)


def resolve_targets(targets: Iterable[str]) -> list[tuple[str, str]]:
    """(game, task) pairs for targets such as ``CoinRun`` (all tasks), ``CoinRun/easy`` or ``procgen``.

    Raises:
        nitrogen_envs.errors.UnknownGame: a name that is neither a game nor an engine.
        nitrogen_envs.errors.UnknownTask: a task the game lacks.
    """
    engines = {game.engine for game in all_games()}
    pairs: list[tuple[str, str]] = []
    for target in targets:
        if target in engines:
            pairs += [(g.name, t.name) for g in all_games() if g.engine == target for t in g.tasks]
            continue
        name, _, task = target.partition("/")
        game = get_game(name)
        pairs += [(game.name, game.task(task).name)] if task else [(game.name, t.name) for t in game.tasks]
    return list(dict.fromkeys(pairs))


def _progress(total: int, enabled: bool | None) -> object:
    from nitrogen_envs.progress import progress_bar

    return progress_bar(total, "expert report", unit="episode", enabled=enabled is not False)


def expert_report(
    targets: Sequence[str],
    *,
    episodes: int = 3,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    expert: str | None = None,
    max_steps: int | None = None,
    obs_size: int = 32,
    with_random: bool = True,
    stop_on_success: bool = False,
    workers: int = 1,
    progress: bool | None = None,
) -> list[ReportRow]:
    """Play each task with its expert and with random play; one :class:`ReportRow` per task.

    Args:
        targets: games, ``game/task`` pairs or engine names (see :func:`resolve_targets`).
        episodes: episodes per agent and task, seeds ``seed .. seed + episodes - 1``.
        seed: first episode seed; also the experts' base seed.
        seeds: explicit episode seeds (overrides ``episodes`` and ``seed`` for the episodes).
        expert: expert name for every task; ``None`` picks each game's default expert.
        max_steps: cap on steps per episode (``None``: the game's own limits); a capped episode
            counts as failed unless success was reached before the cap.
        obs_size: frame size of the played env (experts read engine state, not frames, so small is fast).
        with_random: also play the random baseline.
        stop_on_success: end episodes at the first success (see :func:`run_episode`); makes long step caps
            affordable for games whose criterion is a score reached long before the game ends (Atari).
        workers: tasks measured in parallel processes (rows come back in task order).
        progress: show a progress bar on stderr (a live bar on a terminal, a line every few seconds in logs;
            ``None`` counts as ``True``, ``False`` hides it).

    Raises:
        ValueError: ``episodes`` < 1 or ``max_steps`` < 1.
    """
    episode_seeds = list(seeds) if seeds is not None else [seed + i for i in range(episodes)]
    if not episode_seeds:
        raise ValueError(f"episodes must be >= 1, got {episodes if seeds is None else 0}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    pairs = resolve_targets(targets)
    job = _TaskJob(tuple(episode_seeds), seed, expert, max_steps, obs_size, with_random, stop_on_success)
    bar = _progress(len(pairs), progress)
    try:
        measured = run_parallel(
            [(job, game, task) for game, task in pairs],
            _measure,
            workers=workers,
            on_complete=lambda _: bar.update(1),  # type: ignore[attr-defined]
        )
        rows = [row for _, row in measured]
    finally:
        bar.close()  # type: ignore[attr-defined]
    return rows


def _measure(args: tuple[_TaskJob, str, str]) -> ReportRow:
    job, game, task = args
    return job.run(game, task)


@dataclass(frozen=True)
class _TaskJob:
    """Everything needed to measure one task, picklable for worker processes."""

    seeds: tuple[int, ...]
    seed: int
    expert: str | None
    max_steps: int | None
    obs_size: int
    with_random: bool
    stop_on_success: bool

    def run(self, game: str, task: str) -> ReportRow:
        name = self.expert or default_expert_name(game)
        env = gym.make(get_game(game).env_id, task=task, obs_size=self.obs_size)
        try:
            results: dict[str, list[EpisodeResult]] = {}
            agents = [(name, make_expert(name, game, seed=self.seed))]
            if self.with_random and name != "random":
                agents.append(("random", make_expert("random", game, seed=self.seed)))
            for label, agent in agents:
                results[label] = [
                    run_episode(env, agent, episode_seed, self.max_steps, self.stop_on_success)
                    for episode_seed in self.seeds
                ]
                close = getattr(agent, "close", None)
                if close is not None:
                    close()
            row = _row(game, task, name, results, env)
            logger.info("%s/%s: %s", game, task, row)
            return row
        finally:
            env.close()


def _row(game: str, task: str, name: str, results: dict[str, list[EpisodeResult]], env: gym.Env) -> ReportRow:
    played = results[name]
    baseline = results.get("random") if name != "random" else played
    mean_return = float(np.mean([r.episode_return for r in played]))
    steps, seconds = sum(r.steps for r in played), sum(r.seconds for r in played)
    return ReportRow(
        game=game,
        task=task,
        expert=name,
        episodes=len(played),
        success_rate=float(np.mean([r.success for r in played])),
        mean_return=mean_return,
        random_success_rate=None if baseline is None else float(np.mean([r.success for r in baseline])),
        random_mean_return=None if baseline is None else float(np.mean([r.episode_return for r in baseline])),
        score_normalized=env.unwrapped.normalize_score(mean_return),  # type: ignore[attr-defined]
        expert_steps_per_second=steps / seconds if seconds > 0 else 0.0,
    )


def format_report(rows: Sequence[ReportRow], markdown: bool = False) -> str:
    """Render rows as an aligned text table or a Markdown table, plus a summary line."""
    header = [
        "game",
        "task",
        "expert",
        "eps",
        "success",
        "return",
        "random success",
        "random return",
        "normalized",
        "steps/s",
    ]

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    body = [
        [
            r.game,
            r.task,
            r.expert,
            str(r.episodes),
            fmt(r.success_rate, ".0%"),
            fmt(r.mean_return, ".1f"),
            fmt(r.random_success_rate, ".0%"),
            fmt(r.random_mean_return, ".1f"),
            fmt(r.score_normalized, ".2f"),
            fmt(r.expert_steps_per_second, ".0f"),
        ]
        for r in rows
    ]
    return "\n".join([*text_table(header, body, markdown), "", summarize(rows)])


def summarize(rows: Sequence[ReportRow]) -> str:
    """One line: tasks at >= 80% success, and tasks where the expert beats random on success or return."""
    if not rows:
        return "no tasks"
    good = sum(r.success_rate >= 0.8 for r in rows)
    above = sum(
        r.random_success_rate is None
        or r.success_rate > r.random_success_rate
        or (r.success_rate == r.random_success_rate and r.mean_return > (r.random_mean_return or 0.0))
        for r in rows
    )
    return (
        f"{good}/{len(rows)} tasks at >= 80% success; expert above random on {above}/{len(rows)} tasks "
        "(higher success rate, or equal success rate and higher mean return)"
    )
