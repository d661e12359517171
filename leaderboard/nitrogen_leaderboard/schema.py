"""The results file: what ``nitrogen eval`` writes, ``nitrogen submit`` sends and the server stores.

One schema serves all three (pydantic models, so the server validates a request with the very class the
client wrote the file with, and the OpenAPI spec is generated from it). Bump :data:`SCHEMA_VERSION` on any
change that an older reader would misread; readers refuse other versions with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nitrogen_envs.errors import NitroGenError

SCHEMA_VERSION = 1
TRACKS = ("zero-shot", "fine-tuned-1", "fine-tuned-5", "fine-tuned-20", "from-scratch")
TRACK_DEMOS: dict[str, int] = {
    "zero-shot": 0,
    "fine-tuned-1": 1,
    "fine-tuned-5": 5,
    "fine-tuned-20": 20,
    "from-scratch": 20,
}
"""Most expert demonstrations per held-out task a track allows (docs/leaderboard.md, "Tracks").

``fine-tuned-k`` starts from weights pretrained on other games; ``from-scratch`` starts from nothing and gets
the largest fine-tuned budget (20), so comparing it with ``fine-tuned-20`` measures what pretraining adds.
"""
SEED_SETS = ("dev", "test")
# Bounds that keep a hostile file small: a full unseen-v1 run is a few thousand episodes.
MAX_EPISODES = 100_000
MAX_NAME = 200

Track = Literal["zero-shot", "fine-tuned-1", "fine-tuned-5", "fine-tuned-20", "from-scratch"]
SeedSet = Literal["dev", "test"]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


RANDOM_AGENT = "random"
"""The built-in uniformly random agent's name (and its ``nitrogen eval --agent`` spec)."""
BUILTIN_AGENTS: dict[str, str] = {RANDOM_AGENT: RANDOM_AGENT}
"""Agents a server can re-run with no submitted code or weights: results-file name -> the server's own spec."""


def builtin_agent_spec(name: str, weights_sha256: str | None) -> str | None:
    """The spec a server re-runs for an entry naming a built-in agent without weights; ``None`` otherwise.

    The returned string is the server's own constant (a value of :data:`BUILTIN_AGENTS`), never the
    submitted name, so nothing a submitter writes ever becomes an agent spec. Names match exactly: ``Random``
    or ``random `` are ordinary (unverifiable) names.
    """
    if weights_sha256 is not None:
        return None
    return BUILTIN_AGENTS.get(name)


class BadResultsFile(NitroGenError):
    """A results file that is missing, not JSON, of another schema version, or out of its bounds."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EpisodeRecord(_Strict):
    """One evaluated episode."""

    game: Name
    task: Name
    seed: Annotated[int, Field(ge=0, lt=2**31)]
    episode_return: Annotated[float, Field(allow_inf_nan=False)]
    success: bool
    steps: Annotated[int, Field(ge=0, le=10_000_000)]
    score_normalized: Annotated[float, Field(allow_inf_nan=False)] | None = None


class AgentInfo(_Strict):
    """What was evaluated: a name, and the weights' fingerprint when there are weights."""

    name: Name
    weights_sha256: Sha256 | None = None
    num_parameters: Annotated[int, Field(ge=0)] | None = None


class RunEnvironment(_Strict):
    """Where it ran: versions and hardware, so a result can be reproduced (or explained)."""

    package_version: Annotated[str, Field(max_length=64)]
    engine_versions: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=64)]] = {}
    python: Annotated[str, Field(max_length=64)] = ""
    platform: Annotated[str, Field(max_length=MAX_NAME)] = ""
    hardware: Annotated[str, Field(max_length=MAX_NAME)] = ""


class ResultsFile(_Strict):
    """A whole evaluation run of one agent under one protocol, track and seed set."""

    schema_version: Literal[1] = 1  # == SCHEMA_VERSION; a Literal needs the value itself
    protocol: Name
    track: Track
    seed_set: SeedSet
    agent: AgentInfo
    environment: RunEnvironment
    wall_time_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    episodes: Annotated[list[EpisodeRecord], Field(max_length=MAX_EPISODES)]


HASH_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks: how ``AgentInfo.weights_sha256`` names a ``model.safetensors``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def read_results(path: str | Path) -> ResultsFile:
    """Load and validate a results file; :class:`BadResultsFile` in one line otherwise."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadResultsFile(
            f"{path}: no such results file (write one with `nitrogen eval ... --out {path}`)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadResultsFile(f"{path}: not a JSON results file ({error})") from None
    return parse_results(raw, source=str(path))


def parse_results(raw: object, source: str = "results") -> ResultsFile:
    """Validate already-decoded JSON; the first problem in one line."""
    if isinstance(raw, dict) and raw.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise BadResultsFile(
            f"{source}: schema_version {raw.get('schema_version')!r}, this package reads {SCHEMA_VERSION} "
            "(re-run `nitrogen eval` with this version)"
        )
    try:
        return ResultsFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise BadResultsFile(f"{source}: {where}: {first['msg']} ({error.error_count()} problem(s) in all)") from None
