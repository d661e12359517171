"""Scores of a run: per-task success and normalized score, the interquartile mean over tasks, bootstrap CIs, ranks.

The aggregate follows the rliable recipe (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
Precipice"): the interquartile mean (IQM, the mean of the middle half, robust to a few outlier tasks) of the
per-task mean scores, with a 95% percentile interval from a *stratified* bootstrap, which resamples episodes
within each task so every task keeps its weight. It is written with numpy: ``rliable`` itself cannot be
installed beside pandas 3 (rliable 1.2 needs ``arch<8``, and arch 7 does not import under pandas 3).

The per-episode score is ``score_normalized`` (0 = random play, 1 = the task's reference) when the env
provides one, else the episode's success (1.0 or 0.0): tasks without a reference score (the ViZDoom and
Crafter tasks) are scored by success, which is on the same 0..1 scale.

Example:
    >>> from nitrogen_leaderboard.schema import EpisodeRecord
    >>> eps = [EpisodeRecord(game="Maze", task="hard", seed=s, episode_return=10.0 * (s % 2), success=bool(s % 2),
    ...        steps=5, score_normalized=float(s % 2)) for s in range(4)]
    >>> summary = summarize(eps, reps=200)
    >>> summary.iqm, summary.per_task["Maze/hard"].success_rate
    (0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from nitrogen_leaderboard.schema import EpisodeRecord

IQM_CUT = 0.25
"""Fraction trimmed from each end for the interquartile mean (scipy's ``trim_mean(x, 0.25)``, as rliable)."""
CONFIDENCE = 0.95
"""Coverage of every interval."""
BOOTSTRAP_BLOCK = 4_000_000
"""Most indices drawn at once (32 MB of int64)."""
DEFAULT_REPS = 2000
"""Bootstrap resamples: rliable's default; the interval's ends move by well under 0.01 between seeds at this count."""


class TaskSummary(BaseModel):
    """One task's results: success rate, mean score and the 95% bootstrap interval of that mean."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    success_rate: float
    score_mean: float
    ci_low: float
    ci_high: float
    episodes: int


class Summary(BaseModel):
    """A run's scores: per task, and the IQM over tasks with its stratified-bootstrap 95% interval.

    A pydantic model, so it is JSON-ready (:meth:`to_dict`, :meth:`from_dict`) and the server can store it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_task: dict[str, TaskSummary]
    iqm: float
    ci_low: float
    ci_high: float
    episodes: int
    success_rate: float = 0.0
    """Mean over tasks of the per-task success rate (shown beside the IQM; not used for ranking)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, raw: Any) -> Summary:
        """The inverse of :meth:`to_dict` (validated)."""
        return cls.model_validate(raw)


class RankRow(BaseModel):
    """One entry of a ranking, best first, and whether its interval overlaps its neighbours'."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int
    name: str
    iqm: float
    ci_low: float
    ci_high: float
    overlaps_above: bool
    """Its interval overlaps the entry ranked just above: the order of the two is not established."""
    overlaps_below: bool
    """Its interval overlaps the entry ranked just below."""
    overlaps_with: tuple[str, ...] = ()
    """Every other entry whose interval overlaps this one's, in rank order."""


def episode_score(episode: EpisodeRecord) -> float:
    """``score_normalized`` when known, else success as 1.0/0.0 (see the module docstring)."""
    if episode.score_normalized is not None:
        return float(episode.score_normalized)
    return 1.0 if episode.success else 0.0


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: sort, drop ``int(0.25 * n)`` values from each end, average the rest.

    Example:
        >>> float(iqm(np.arange(8.0)))  # drops 0, 1 and 6, 7
        3.5
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64), axis=axis)
    n = ordered.shape[axis]
    cut = int(IQM_CUT * n)
    return np.take(ordered, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def _interval(samples: np.ndarray) -> tuple[float, float]:
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _bootstrap_means(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """``reps`` means of ``scores`` resampled with replacement, in blocks of at most ``BOOTSTRAP_BLOCK`` draws.

    Blocks keep memory bounded for a results file with many episodes in one task (the server summarises
    untrusted files).
    """
    n = len(scores)
    rows = max(1, BOOTSTRAP_BLOCK // n)
    out = np.empty(reps)
    for start in range(0, reps, rows):
        stop = min(reps, start + rows)
        out[start:stop] = scores[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def summarize(episodes: Sequence[EpisodeRecord], reps: int = DEFAULT_REPS, seed: int = 0) -> Summary:
    """Per-task scores and the IQM over tasks, with stratified-bootstrap 95% percentile intervals.

    Args:
        episodes: every episode of a run (tasks are grouped by ``Game/task``, sorted by that key).
        reps: bootstrap resamples.
        seed: the bootstrap's random seed (the same inputs and seed give the same interval).

    Raises:
        ValueError: no episodes, or ``reps < 1`` (a caller's bug, not a user's input).
    """
    if not episodes:
        raise ValueError("summarize() needs at least one episode")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    groups: dict[str, list[EpisodeRecord]] = {}
    for episode in episodes:
        groups.setdefault(f"{episode.game}/{episode.task}", []).append(episode)
    keys = sorted(groups)
    rng = np.random.default_rng(seed)
    per_task: dict[str, TaskSummary] = {}
    boot = np.empty((reps, len(keys)))
    means = np.empty(len(keys))
    for column, key in enumerate(keys):
        scores = np.array([episode_score(e) for e in groups[key]])
        resampled = _bootstrap_means(scores, reps, rng)
        boot[:, column] = resampled
        means[column] = scores.mean()
        low, high = _interval(resampled)
        per_task[key] = TaskSummary(
            success_rate=float(np.mean([e.success for e in groups[key]])),
            score_mean=float(means[column]),
            ci_low=low,
            ci_high=high,
            episodes=len(scores),
        )
    low, high = _interval(iqm(boot, axis=1))
    return Summary(
        per_task=per_task,
        iqm=float(iqm(means)),
        ci_low=low,
        ci_high=high,
        episodes=len(episodes),
        success_rate=float(np.mean([task.success_rate for task in per_task.values()])),
    )


class Scored(Protocol):
    """What ranking reads of an entry: its IQM and that IQM's 95% interval (a :class:`Summary` has them)."""

    @property
    def iqm(self) -> float:
        """The interquartile mean over tasks."""
        ...

    @property
    def ci_low(self) -> float:
        """Its 95% interval's low end."""
        ...

    @property
    def ci_high(self) -> float:
        """Its 95% interval's high end."""
        ...


def overlaps(a: Scored, b: Scored) -> bool:
    """Whether the two aggregate 95% intervals share a point (then neither entry is clearly ahead)."""
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


def rank(summaries: Mapping[str, Scored], first: int = 0, count: int | None = None) -> list[RankRow]:
    """Entries best first (IQM, then lower interval end, then name), each saying whose intervals it overlaps.

    ``first`` and ``count`` give one page of the ranking (positions ``first + 1`` on): every entry is ordered, but
    only the page's rows are built, so a server listing a page of a large board does ``count`` rows of work.
    """
    order = sorted(summaries, key=lambda name: (-summaries[name].iqm, -summaries[name].ci_low, name))
    rows = []
    end = len(order) if count is None else min(len(order), first + count)
    for position in range(max(0, first), end):
        name = order[position]
        this = summaries[name]
        above = position > 0 and overlaps(this, summaries[order[position - 1]])
        below = position + 1 < len(order) and overlaps(this, summaries[order[position + 1]])
        rows.append(
            RankRow(
                position=position + 1,
                name=name,
                iqm=this.iqm,
                ci_low=this.ci_low,
                ci_high=this.ci_high,
                overlaps_above=above,
                overlaps_below=below,
                overlaps_with=tuple(other for other in order if other != name and overlaps(this, summaries[other])),
            )
        )
    return rows


def format_summary(summary: Summary) -> str:
    """The summary as text: one line per task, then the aggregate line (what ``nitrogen eval`` prints)."""
    width = max(len(key) for key in summary.per_task)
    lines = [
        f"{key:<{width}}  success {task.success_rate:5.2f}  score {task.score_mean:7.3f} "
        f"[{task.ci_low:7.3f}, {task.ci_high:7.3f}]  ({task.episodes} episodes)"
        for key, task in summary.per_task.items()
    ]
    lines.append(
        f"IQM {summary.iqm:.3f} [95% CI {summary.ci_low:.3f}, {summary.ci_high:.3f}] over {len(summary.per_task)} "
        f"tasks, {summary.episodes} episodes; mean success rate {summary.success_rate:.2f}"
    )
    return "\n".join(lines)
