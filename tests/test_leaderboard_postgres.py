"""The leaderboard server on a real PostgreSQL: migrations, submissions and a restart with nothing lost.

A throwaway cluster is started in a temporary folder (``initdb`` + ``pg_ctl``, unix socket only, no TCP), so
nothing else is needed; the test skips, saying why, when the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("psycopg")

from fastapi.testclient import TestClient
from fixtures.leaderboard_factories import results_dict

from nitrogen_leaderboard.schema import parse_results
from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.app import create_app
from nitrogen_leaderboard.server.settings import ServerSettings

PG_BIN = Path(os.environ.get("NITROGEN_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="module")
def postgres_url():
    """A URL to a fresh PostgreSQL cluster listening on a unix socket in a temporary folder."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        pytest.skip(
            f"PostgreSQL server binaries not found in {PG_BIN} (apt-get install postgresql, or set NITROGEN_PG_BIN)"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    # directly under /tmp: pytest's own temp folders are private to root, and a socket path must stay short
    root = Path(tempfile.mkdtemp(prefix="nitrogen-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        root.chmod(0o700)
    data, socket_dir = root / "data", root
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
        cwd=root,
    )
    options = f"-k {socket_dir} -c listen_addresses='' -c fsync=off"
    subprocess.run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
        cwd=root,
    )
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_keeps_entries_and_tokens_across_a_restart(postgres_url, tmp_path):
    settings = ServerSettings(data_dir=tmp_path, db_url=postgres_url)
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        token = db.add_user(session, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok", "database": "postgresql", "revision": "0002"}
        first = client.post("/api/v1/submissions", json=results_dict(score=0.4), headers=headers)
        again = client.post("/api/v1/submissions", json=results_dict(score=0.4), headers=headers)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
    app.state.engine.dispose()

    reborn = create_app(settings)  # migrations run again: a no-op at head
    with TestClient(reborn) as client:
        back = client.get(f"/api/v1/submissions/{first.json()['id']}").json()
        assert back["submitter"] == "alice" and back["score"] == pytest.approx(first.json()["score"])
        assert client.get("/api/v1/me", headers=headers).json()["entries"] == [first.json()["id"]]
        board = client.get("/api/v1/leaderboard/unseen-v1/zero-shot", params={"all": "true"}).json()
        assert [row["entry"]["id"] for row in board["entries"]] == [first.json()["id"]]
    reborn.state.engine.dispose()


def test_postgres_claims_each_pending_entry_once(postgres_url, tmp_path):
    app = create_app(ServerSettings(data_dir=tmp_path, db_url=postgres_url))
    with app.state.sessionmaker() as session:
        user = db.add_user(session, "bob") and session.scalar(db.select(db.User).where(db.User.name == "bob"))
        entry, created = db.insert_results(session, user, parse_results(results_dict(score=0.9, agent="bob-agent")))
        assert created
        entry.weights_sha256, entry.status = "a" * 64, db.PENDING
        session.commit()
    with app.state.sessionmaker() as one, app.state.sessionmaker() as two:
        claimed = db.claim_pending(one)
        assert claimed is not None and claimed.id == entry.id
        assert db.claim_pending(two) is None
        db.record_verification(one, entry.id, db.VERIFIED, parse_results(results_dict(score=0.9, seed_set="test")))
    with app.state.sessionmaker() as session:
        assert session.get(db.Entry, entry.id).status == db.VERIFIED
    app.state.engine.dispose()
