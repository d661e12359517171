"""Evaluation protocols: which tasks, how many episodes, which step limits and which seeds a leaderboard run uses.

A protocol is a versioned JSON file (``data/protocols/<name>.json``) that lists every task explicitly, so a
change to the game registry never changes a published protocol; publish ``unseen-v2`` instead of editing
``unseen-v1``. Seeds come in two sets:

* **dev** seeds are public and the same for everyone: ``dev_seed_start, dev_seed_start + 1, ...``. They lie
  in ``[1_000_000_000, 1_100_000_000)``, far from every seed range the repo trains or collects on (those
  start at 0 and, in the experiments, at 1000), so no default training run has seen a dev level.
* **test** seeds are derived from a secret that only the server holds (HMAC-SHA256 of the protocol, task and
  episode index), in ``[1_100_000_000, 2**31 - 1)``, so they never meet the dev seeds. A deployed server
  reads the secret from :data:`TEST_SECRET_ENV`; nothing in the repo supplies a default.

Example:
    >>> protocol = load_protocol("unseen-v1")
    >>> tiny = protocol.restricted(tasks=["BigFish/hard"], episodes_per_task=2, max_steps=10)
    >>> [task.key for task in tiny.tasks], tiny.dev_seeds(tiny.tasks[0])
    (['BigFish/hard'], [1000000000, 1000000001])
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nitrogen_envs.errors import NitroGenError
from nitrogen_leaderboard.schema import SEED_SETS, TRACKS, ResultsFile

DEFAULT_PROTOCOL = "unseen-v1"
TEST_SECRET_ENV = "NITROGEN_LEADERBOARD_TEST_SECRET"
"""Environment variable a deployed server (and ``nitrogen eval --seeds test``) reads the test-seed secret from."""
MIN_SECRET_CHARS = 16
"""A shorter secret could be guessed by trying candidates against the published protocol."""
DEV_SEED_LOW = 1_000_000_000
"""Dev seeds start at or above this; every training and collection default in the repo stays far below it."""
TEST_SEED_LOW = 1_100_000_000
"""Test seeds lie in ``[TEST_SEED_LOW, SEED_HIGH)``; dev seeds must end below it, so the two sets are disjoint."""
DEMO_SEED_START = 0
"""Demonstrations for the fine-tuned and from-scratch tracks: task seeds ``DEMO_SEED_START + i`` for ``i < k``.

Any seed below :data:`DEV_SEED_LOW` may be trained on; the baselines use ``0 .. k-1`` of every task (the
default of ``nitrogen collect``), which never meets a dev or test seed.
"""
SEED_HIGH = 2**31 - 1
"""Exclusive upper bound of every seed (the results schema stores seeds below ``2**31``)."""
MAX_PROTOCOL_BYTES = 1024 * 1024
"""A protocol file is a few kB; a larger one is refused before it is parsed."""


class ProtocolError(NitroGenError, ValueError):
    """An unknown protocol name, a malformed protocol file, a bad restriction or a missing test-seed secret."""


class CoverageError(NitroGenError, ValueError):
    """A results file whose episodes are not exactly the protocol's tasks and seeds."""


@dataclass(frozen=True)
class TaskSpec:
    """One task of the protocol.

    Args:
        game: registry game name, e.g. ``BigFish``.
        task: the game's task name, e.g. ``hard``.
        env_id: Gymnasium id, e.g. ``NitroGen/BigFish-v0``.
        max_steps: step cap of one episode (the env's own cap applies too; the lower one ends it).
    """

    game: str
    task: str
    env_id: str
    max_steps: int

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ProtocolError(f"task {self.key}: max_steps must be >= 1, got {self.max_steps}")

    @property
    def key(self) -> str:
        """``Game/task``: how results, summaries and ``--tasks`` name the task."""
        return f"{self.game}/{self.task}"


@dataclass(frozen=True)
class Protocol:
    """A frozen evaluation protocol; see the module docstring for the seed sets.

    Args:
        name: the protocol's id, e.g. ``unseen-v1`` (written into every results file).
        version: integer version inside the file.
        split: the game split its tasks come from (:func:`nitrogen_envs.splits.load_split`).
        tasks: every evaluated task, in file order.
        episodes_per_task: episodes (one per seed) of every task.
        tracks: the leaderboard tracks results may be filed under (a subset of the schema's ``TRACKS``).
        dev_seed_start: first public dev seed; dev seeds are ``dev_seed_start + i``, ``i < episodes_per_task``.
        description: one paragraph for docs and the web page.
    """

    name: str
    version: int
    split: str
    tasks: tuple[TaskSpec, ...]
    episodes_per_task: int
    tracks: tuple[str, ...]
    dev_seed_start: int
    description: str = ""

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ProtocolError(f"protocol {self.name!r} has no task")
        keys = [task.key for task in self.tasks]
        if len(set(keys)) != len(keys):
            raise ProtocolError(
                f"protocol {self.name!r} lists a task twice: {sorted({k for k in keys if keys.count(k) > 1})}"
            )
        if self.episodes_per_task < 1:
            raise ProtocolError(f"protocol {self.name!r}: episodes_per_task must be >= 1, got {self.episodes_per_task}")
        unknown = [track for track in self.tracks if track not in TRACKS]
        if unknown or not self.tracks:
            raise ProtocolError(f"protocol {self.name!r}: tracks {unknown or '(none)'} are not among {list(TRACKS)}")
        if self.dev_seed_start < DEV_SEED_LOW or self.dev_seed_start + self.episodes_per_task > TEST_SEED_LOW:
            raise ProtocolError(
                f"protocol {self.name!r}: dev seeds {self.dev_seed_start}..{self.dev_seed_start + self.episodes_per_task - 1}"
                f" must lie in [{DEV_SEED_LOW}, {TEST_SEED_LOW}) so they stay apart from training and test seeds"
            )

    # ---- lookup ---------------------------------------------------------------------------------------
    def task(self, key: str) -> TaskSpec:
        """The task named ``Game/task``.

        Raises:
            ProtocolError: not a task of this protocol; the message lists the closest keys.
        """
        for task in self.tasks:
            if task.key == key:
                return task
        close = difflib.get_close_matches(key, [task.key for task in self.tasks], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; its tasks are {[t.key for t in self.tasks]}"
        raise ProtocolError(f"protocol {self.name!r} has no task {key!r}{hint}")

    # ---- seeds ----------------------------------------------------------------------------------------
    def dev_seeds(self, task: TaskSpec) -> list[int]:
        """The public seeds of ``task``: the same consecutive range for every task (one world per seed and game)."""
        self.task(task.key)
        return [self.dev_seed_start + index for index in range(self.episodes_per_task)]

    def test_seeds(self, task: TaskSpec, secret: str) -> list[int]:
        """The secret seeds of ``task``: HMAC-SHA256(secret, protocol/version/task/index), mapped into the test range.

        Without the secret they cannot be predicted; a different secret gives different seeds. Seeds are
        distinct within a task, and disjoint from dev seeds by range.

        Raises:
            ProtocolError: the secret is shorter than :data:`MIN_SECRET_CHARS`.
        """
        self.task(task.key)
        check_secret(secret)
        span = SEED_HIGH - TEST_SEED_LOW
        seeds: list[int] = []
        counter = 0
        while len(seeds) < self.episodes_per_task:
            message = f"{self.name}/v{self.version}/{task.key}/{counter}".encode()
            digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
            seed = TEST_SEED_LOW + int.from_bytes(digest[:8], "big") % span
            if seed not in seeds:
                seeds.append(seed)
            counter += 1
        return seeds

    def seeds(self, task: TaskSpec, seed_set: str = "dev", secret: str | None = None) -> list[int]:
        """Dev or test seeds of ``task`` (``seed_set`` one of the schema's ``SEED_SETS``).

        Raises:
            ProtocolError: unknown seed set, or test seeds without a secret.
        """
        if seed_set == "dev":
            return self.dev_seeds(task)
        if seed_set == "test":
            if secret is None:
                raise ProtocolError(
                    f"test seeds are derived from the server's secret: pass it (--secret) or set {TEST_SECRET_ENV}; "
                    "anyone else evaluates on --seeds dev"
                )
            return self.test_seeds(task, secret)
        raise ProtocolError(f"unknown seed set {seed_set!r}; choose one of {list(SEED_SETS)}")

    def episode_keys(self, seed_set: str = "dev", secret: str | None = None) -> list[tuple[str, str, int]]:
        """Every ``(game, task, seed)`` a complete run plays, in protocol order."""
        return [(t.game, t.task, seed) for t in self.tasks for seed in self.seeds(t, seed_set, secret)]

    def check_coverage(self, results: ResultsFile, secret: str | None = None) -> None:
        """Check that ``results`` played exactly this protocol's episodes (each once) on its seed set.

        A server calls this before ranking, so a run on fewer tasks or hand-picked seeds is refused.

        Raises:
            CoverageError: another protocol name, or episodes missing, repeated or not in the protocol.
        """
        if results.protocol != self.name:
            raise CoverageError(f"results are for protocol {results.protocol!r}, not {self.name!r}")
        expected = self.episode_keys(results.seed_set, secret)
        found = [(e.game, e.task, e.seed) for e in results.episodes]
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        repeated = len(found) - len(set(found))
        if missing or extra or repeated:
            parts = [
                f"{len(missing)} missing (first {missing[0]})" if missing else "",
                f"{len(extra)} not in the protocol (first {extra[0]})" if extra else "",
                f"{repeated} repeated" if repeated else "",
            ]
            raise CoverageError(
                f"results do not cover protocol {self.name!r} {results.seed_set} seeds exactly: "
                + ", ".join(part for part in parts if part)
                + "; re-run `nitrogen eval` without --tasks/--episodes"
            )

    # ---- variants and serialisation -----------------------------------------------------------------
    def restricted(
        self, tasks: Sequence[str] | None = None, episodes_per_task: int | None = None, max_steps: int | None = None
    ) -> Protocol:
        """A smaller copy (tests, quick checks): some tasks, fewer episodes, a lower step cap; same name and seeds.

        Args:
            tasks: ``Game/task`` keys to keep (default: all), in the order given.
            episodes_per_task: at most the protocol's own (the seeds are its first ones).
            max_steps: caps every task's step limit (never raises it).

        Raises:
            ProtocolError: an unknown task key or a value out of range.
        """
        kept = tuple(self.task(key) for key in tasks) if tasks is not None else self.tasks
        if max_steps is not None:
            if max_steps < 1:
                raise ProtocolError(f"max_steps must be >= 1, got {max_steps}")
            kept = tuple(dataclasses.replace(task, max_steps=min(task.max_steps, max_steps)) for task in kept)
        episodes = self.episodes_per_task if episodes_per_task is None else episodes_per_task
        if not 1 <= episodes <= self.episodes_per_task:
            raise ProtocolError(f"episodes per task must be in 1..{self.episodes_per_task}, got {episodes}")
        return dataclasses.replace(self, tasks=kept, episodes_per_task=episodes)

    def to_dict(self) -> dict[str, Any]:
        """The protocol as JSON-ready data (the file format :func:`load_protocol` reads)."""
        return {
            "name": self.name,
            "version": self.version,
            "split": self.split,
            "description": self.description,
            "episodes_per_task": self.episodes_per_task,
            "tracks": list(self.tracks),
            "dev_seed_start": self.dev_seed_start,
            "tasks": [dataclasses.asdict(task) for task in self.tasks],
        }

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: equal fingerprints mean the same tasks, caps, episodes and seeds."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, raw: Any, source: str = "protocol") -> Protocol:
        """Build and check a protocol from decoded JSON.

        Raises:
            ProtocolError: a missing or mistyped field, or a task the game registry does not have.
        """
        from nitrogen_envs.registry import get_game

        if not isinstance(raw, dict):
            raise ProtocolError(f"{source}: a protocol is a JSON object, got {type(raw).__name__}")
        try:
            tasks = []
            for entry in raw["tasks"]:
                game = get_game(str(entry["game"]))
                game.task(str(entry["task"]))  # UnknownTask names the game's tasks
                tasks.append(TaskSpec(game.name, str(entry["task"]), game.env_id, _int(entry["max_steps"])))
            return cls(
                name=str(raw["name"]),
                version=_int(raw["version"]),
                split=str(raw["split"]),
                tasks=tuple(tasks),
                episodes_per_task=_int(raw["episodes_per_task"]),
                tracks=tuple(str(track) for track in raw["tracks"]),
                dev_seed_start=_int(raw["dev_seed_start"]),
                description=str(raw.get("description", "")),
            )
        except (KeyError, TypeError) as err:
            raise ProtocolError(f"{source}: missing or mistyped field ({type(err).__name__}: {err})") from None
        except NitroGenError as err:
            raise ProtocolError(f"{source}: {err}") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def check_secret(secret: str) -> str:
    """Return ``secret`` when it is long enough to keep test seeds unguessable.

    Raises:
        ProtocolError: shorter than :data:`MIN_SECRET_CHARS`.
    """
    if len(secret) < MIN_SECRET_CHARS:
        raise ProtocolError(
            f"the test-seed secret has {len(secret)} characters; use at least {MIN_SECRET_CHARS} "
            '(e.g. python -c "import secrets; print(secrets.token_hex(16))")'
        )
    return secret


def resolve_secret(explicit: str | None = None) -> str | None:
    """The test-seed secret: ``explicit`` if given, else :data:`TEST_SECRET_ENV`, else ``None``."""
    return explicit if explicit is not None else os.environ.get(TEST_SECRET_ENV) or None


def available_protocols() -> list[str]:
    """Names of the protocols shipped with the package."""
    folder = resources.files("nitrogen_leaderboard") / "data" / "protocols"
    return sorted(entry.name.removesuffix(".json") for entry in folder.iterdir() if entry.name.endswith(".json"))


def load_protocol(name_or_path: str = DEFAULT_PROTOCOL) -> Protocol:
    """A shipped protocol by name (``unseen-v1``) or a protocol JSON file by path.

    Raises:
        ProtocolError: an unknown name (the message lists the shipped ones), or a bad file.
    """
    known = available_protocols()
    if name_or_path in known:
        text = (resources.files("nitrogen_leaderboard") / "data" / "protocols" / f"{name_or_path}.json").read_text()
        return Protocol.from_dict(json.loads(text), source=name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        close = difflib.get_close_matches(name_or_path, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ProtocolError(
            f"unknown protocol {name_or_path!r}: {hint}shipped protocols are {known}, or pass a JSON file"
        )
    if path.stat().st_size > MAX_PROTOCOL_BYTES:
        raise ProtocolError(f"{path}: larger than {MAX_PROTOCOL_BYTES} bytes; not a protocol file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(f"{path}: not a JSON protocol file ({err})") from None
    return Protocol.from_dict(raw, source=str(path))


def split_tasks(split_name: str) -> Iterable[tuple[str, str]]:
    """Every ``(game, task)`` of every held-out game of a split, in split then registry order.

    ``unseen-v1.json`` lists exactly these; the tests compare the two, so the file cannot drift from the split.
    """
    from nitrogen_envs.registry import get_game
    from nitrogen_envs.splits import load_split

    for game_name in load_split(split_name).held_out:
        for task in get_game(game_name).tasks:
            yield game_name, task.name
