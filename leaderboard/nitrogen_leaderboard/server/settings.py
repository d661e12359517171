"""Server settings: one frozen dataclass, built by ``nitrogen leaderboard serve`` flags or by tests.

Every limit that protects the server from a client lives here, so a deployment changes it in one place.
The defaults suit a single machine with zero set-up: an SQLite file in the data folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR_ENV = "NITROGEN_LEADERBOARD_DIR"
"""Environment variable naming the data folder (database file and uploaded weights)."""
DB_URL_ENV = "NITROGEN_LEADERBOARD_DB"
"""Environment variable holding a database URL (``postgresql+psycopg://...``); overrides the SQLite default."""
DB_FILENAME = "leaderboard.db"
MIB = 1024 * 1024
GIB = 1024 * MIB
# Default limits of one verification re-run, in the units the command line takes (worker.RerunLimits
# converts them): the full unseen-v1 protocol is hours of a nitrogen-s-sized policy on one thread.
RERUN_CPU_HOURS = 6.0
RERUN_MEMORY_GB = 16.0
RERUN_WALL_HOURS = 8.0
RERUN_THREADS = 1


def default_data_dir() -> Path:
    """``$NITROGEN_LEADERBOARD_DIR``, else ``$XDG_DATA_HOME/nitrogen/leaderboard`` (``~/.local/share/...``)."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or "~/.local/share"
    return Path(base).expanduser() / "nitrogen" / "leaderboard"


@dataclass(frozen=True)
class ServerSettings:
    """Where the leaderboard keeps its data and how much it accepts from one client.

    Args:
        data_dir: folder of the default SQLite file and of uploaded weights (``weights/<entry id>/``).
        db_url: SQLAlchemy URL; ``None`` means ``sqlite:///<data_dir>/leaderboard.db`` (or ``$NITROGEN_LEADERBOARD_DB``).
        max_body_bytes: largest request body except weight uploads (a results file of the full protocol is a
            few MB). Larger bodies get 413 before they are read.
        max_weights_bytes: largest weight upload (``config.json`` + ``model.safetensors`` and multipart framing).
        max_config_bytes: largest ``config.json`` in an upload.
        max_parameters: largest model a ``config.json`` may describe (checked on the ``meta`` device).
        rate_limit_requests: requests one token may make per ``rate_limit_window_s`` (429 beyond it).
        rate_limit_window_s: the rate limit's window, in seconds.
        claim_lease_s: how long a worker's claim on a pending entry lasts before another worker may take it.
        migrate_on_start: run the Alembic migrations when the app is created (off: run ``nitrogen leaderboard migrate``).
        protocol_files: protocol JSON files the operator adds to the shipped ones (trusted: the operator's own
            files; a client can only name a protocol, never a path).
        verify_in_process: ``serve`` runs the verification worker in a background thread (the zero-setup
            default); off when a separate ``nitrogen leaderboard worker`` process verifies.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    db_url: str | None = None
    max_body_bytes: int = 32 * MIB
    max_weights_bytes: int = 2048 * MIB
    max_config_bytes: int = 1 * MIB
    max_parameters: int = 1_000_000_000
    rate_limit_requests: int = 120
    rate_limit_window_s: float = 60.0
    claim_lease_s: float = 3600.0
    migrate_on_start: bool = True
    protocol_files: tuple[Path, ...] = ()
    verify_in_process: bool = True

    def __post_init__(self) -> None:
        """Reject limits that would make the server refuse everything or nothing."""
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        object.__setattr__(self, "protocol_files", tuple(Path(path) for path in self.protocol_files))
        for name in (
            "max_body_bytes",
            "max_weights_bytes",
            "max_config_bytes",
            "max_parameters",
            "rate_limit_requests",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ServerSettings.{name} must be a positive integer, got {value!r}")
        if self.max_config_bytes > self.max_weights_bytes:
            raise ValueError(
                f"ServerSettings.max_config_bytes ({self.max_config_bytes}) exceeds max_weights_bytes "
                f"({self.max_weights_bytes})"
            )
        for name in ("rate_limit_window_s", "claim_lease_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerSettings.{name} must be positive, got {getattr(self, name)!r}")

    @property
    def database_url(self) -> str:
        """The URL actually used: ``db_url``, else ``$NITROGEN_LEADERBOARD_DB``, else the SQLite file."""
        if self.db_url:
            return self.db_url
        if os.environ.get(DB_URL_ENV):
            return os.environ[DB_URL_ENV]
        return f"sqlite:///{self.data_dir / DB_FILENAME}"

    @property
    def protocol_dir(self) -> Path:
        """Folder of extra protocol files the server ranks besides the shipped ones (``seed-baselines`` writes here)."""
        return self.data_dir / "protocols"

    @property
    def weights_root(self) -> Path:
        """Folder of accepted weights, one sub-folder per entry id."""
        return self.data_dir / "weights"

    @property
    def staging_root(self) -> Path:
        """Folder where an upload is written and checked before it is moved under :attr:`weights_root`."""
        return self.data_dir / "staging"
