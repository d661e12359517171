"""The leaderboard server through its HTTP stack: tokens, idempotent submits, refused uploads, limits, restarts."""

from __future__ import annotations

import io
import json
import logging
import pickle
import zipfile

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from click.testing import CliRunner
from fastapi.testclient import TestClient
from fixtures.leaderboard_factories import LiveServer, free_port, results_dict, sha256_of, tiny_checkpoint
from sqlalchemy import func, select

from nitrogen_leaderboard.schema import parse_results
from nitrogen_leaderboard.server import db
from nitrogen_leaderboard.server.app import create_app
from nitrogen_leaderboard.server.settings import ServerSettings

SUBMIT = "/api/v1/submissions"
BOARD = "/api/v1/leaderboard/unseen-v1/zero-shot"


def make_app(data_dir, **limits):
    return create_app(ServerSettings(data_dir=data_dir, **limits))


def add_user(app, name):
    with app.state.sessionmaker() as session:
        return db.add_user(session, name)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def count_entries(app):
    with app.state.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(db.Entry))


def stored_files(data_dir):
    return sorted(path.relative_to(data_dir) for path in data_dir.rglob("*") if (path.is_file() and "weights" in path.parts)
                  or (path.is_file() and "staging" in path.parts))  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture
def server(tmp_path):
    """An app on a fresh SQLite file with users alice and bob."""
    app = make_app(tmp_path)
    client = TestClient(app)
    yield app, client, add_user(app, "alice"), add_user(app, "bob")
    app.state.engine.dispose()


def upload(client, entry_id, token, files):
    return client.put(f"{SUBMIT}/{entry_id}/weights", headers=auth(token), files=files)


def checkpoint_files(checkpoint):
    return {
        "config.json": ("config.json", (checkpoint / "config.json").read_bytes()),
        "model.safetensors": ("model.safetensors", (checkpoint / "model.safetensors").read_bytes()),
    }


# ---- tokens ---------------------------------------------------------------------------------------------------
def test_a_missing_or_wrong_token_is_401_and_nothing_is_stored(server):
    app, client, _alice, _bob = server
    for headers in ({}, auth("ngl_not-a-token"), {"Authorization": "Basic YWxpY2U6eA=="}, auth("x" * 5000)):
        response = client.post(SUBMIT, json=results_dict(), headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert count_entries(app) == 0


def test_another_users_entry_cannot_be_changed_or_withdrawn(server, checkpoint):
    _app, client, alice, bob = server
    entry = client.post(SUBMIT, json=results_dict(), headers=auth(alice)).json()
    assert client.delete(f"{SUBMIT}/{entry['id']}", headers=auth(bob)).status_code == 403
    assert upload(client, entry["id"], bob, checkpoint_files(checkpoint)).status_code == 403
    after = client.get(f"{SUBMIT}/{entry['id']}").json()
    assert after["status"] == "unverified" and after["weights_sha256"] is None
    assert client.delete(f"{SUBMIT}/{entry['id']}", headers=auth(alice)).status_code == 204
    assert client.get(f"{SUBMIT}/{entry['id']}").status_code == 404


# ---- idempotent submissions -----------------------------------------------------------------------------------
def test_the_same_submission_twice_is_one_entry_with_the_same_id(server):
    app, client, alice, _bob = server
    first = client.post(SUBMIT, json=results_dict(), headers=auth(alice))
    # the same content with other whitespace and key order is the same submission
    body = json.dumps(dict(reversed(list(results_dict().items()))), indent=2)
    again = client.post(SUBMIT, content=body, headers={**auth(alice), "Content-Type": "application/json"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert count_entries(app) == 1
    other = client.post(SUBMIT, json=results_dict(score=0.7), headers=auth(alice))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_the_same_results_from_another_user_are_a_conflict(server):
    app, client, alice, bob = server
    client.post(SUBMIT, json=results_dict(), headers=auth(alice))
    response = client.post(SUBMIT, json=results_dict(), headers=auth(bob))
    assert response.status_code == 409 and "another user" in response.json()["detail"]
    assert count_entries(app) == 1


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"protocol": "unseen-v9"}, "unknown protocol"),
        ({"protocol": "../../etc/passwd"}, "unknown protocol"),
        ({"seed_set": "test"}, "dev seeds"),
        ({"episodes": results_dict()["episodes"][:-1]}, "missing"),
        ({"schema_version": 2}, "schema_version"),
    ],
    ids=["unknown-protocol", "path-as-protocol", "test-seeds", "incomplete", "schema-version"],
)
def test_results_outside_the_protocol_are_refused_with_422(server, change, match):
    app, client, alice, _bob = server
    response = client.post(SUBMIT, json={**results_dict(), **change}, headers=auth(alice))
    assert response.status_code == 422
    assert match in json.dumps(response.json())
    assert count_entries(app) == 0


def test_a_board_of_an_unknown_protocol_or_track_is_422(server):
    _app, client, _alice, _bob = server
    assert client.get("/api/v1/leaderboard/unseen-v9/zero-shot").status_code == 422
    assert client.get("/api/v1/leaderboard/unseen-v1/few-shot").status_code == 422
    assert client.get(BOARD).json()["entries"] == []


# ---- size limits and uploads ----------------------------------------------------------------------------------
def test_an_oversize_body_is_refused_with_413_before_it_is_read(tmp_path):
    app = make_app(tmp_path, max_body_bytes=50_000)
    client = TestClient(app)
    alice = add_user(app, "alice")
    body = json.dumps(results_dict()).encode()
    assert len(body) > 50_000
    response = client.post(SUBMIT, content=body, headers={**auth(alice), "Content-Type": "application/json"})
    assert response.status_code == 413 and "over the limit" in response.json()["detail"]

    read = []

    def chunks():  # no Content-Length: the server must stop reading once past the limit
        for start in range(0, len(body), 10_000):
            read.append(start)
            yield body[start : start + 10_000]

    response = client.post(SUBMIT, content=chunks(), headers={**auth(alice), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert count_entries(app) == 0


def pickle_bytes():
    return pickle.dumps({"weight": [1.0, 2.0]}, protocol=4)


def torch_zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("replace", "match"),
    [
        ({"model.safetensors": ("model.safetensors", pickle_bytes())}, "pickle"),
        ({"model.safetensors": ("model.safetensors", torch_zip_bytes())}, "zip"),
        ({"config.json": ("config.json", pickle_bytes())}, "pickle"),
        ({"extra.pt": ("extra.pt", pickle_bytes())}, "refused"),
        ({"model.safetensors": None}, "missing: model.safetensors"),
        ({"model.safetensors": ("model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{}")}, "safetensors"),
    ],
    ids=["pickle-weights", "torch-zip", "pickle-config", "extra-file", "missing-weights", "truncated-safetensors"],
)
def test_a_pickle_or_anything_but_the_two_files_is_refused_and_nothing_is_stored(server, checkpoint, replace, match):
    app, client, alice, _bob = server
    entry = client.post(SUBMIT, json=results_dict(), headers=auth(alice)).json()
    files = {**checkpoint_files(checkpoint), **replace}
    response = upload(client, entry["id"], alice, {k: v for k, v in files.items() if v is not None})
    assert response.status_code == 422, response.text
    assert match in response.json()["detail"]
    assert client.get(f"{SUBMIT}/{entry['id']}").json()["status"] == "unverified"
    assert stored_files(app.state.settings.data_dir) == []


def test_an_oversize_weights_upload_is_413_and_nothing_is_stored(tmp_path, checkpoint):
    weights = (checkpoint / "model.safetensors").stat().st_size
    app = make_app(tmp_path, max_weights_bytes=weights // 2, max_config_bytes=weights // 4)
    client = TestClient(app)
    alice = add_user(app, "alice")
    entry = client.post(SUBMIT, json=results_dict(), headers=auth(alice)).json()
    response = upload(client, entry["id"], alice, checkpoint_files(checkpoint))
    assert response.status_code == 413
    assert client.get(f"{SUBMIT}/{entry['id']}").json()["weights_sha256"] is None
    assert stored_files(tmp_path) == []


def test_valid_weights_make_the_entry_pending_and_the_upload_is_idempotent(server, checkpoint, tmp_path):
    app, client, alice, _bob = server
    digest = sha256_of(checkpoint / "model.safetensors")
    entry = client.post(SUBMIT, json=results_dict(weights_sha256=digest), headers=auth(alice)).json()
    first = upload(client, entry["id"], alice, checkpoint_files(checkpoint))
    again = upload(client, entry["id"], alice, checkpoint_files(checkpoint))
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["status"] == "pending" and first.json()["weights_sha256"] == digest
    assert first.json()["num_parameters"] > 0
    folder = app.state.settings.weights_root / str(entry["id"])
    assert sorted(path.name for path in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert sha256_of(folder / "model.safetensors") == digest
    # other weights than the results name are refused; so are new weights for an entry that has some
    other = tiny_checkpoint(tmp_path / "other", seed=1)
    mismatch = client.post(SUBMIT, json=results_dict(score=0.2, weights_sha256="0" * 64), headers=auth(alice)).json()
    refused = upload(client, mismatch["id"], alice, checkpoint_files(other))
    assert refused.status_code == 422 and "upload the weights that were evaluated" in refused.json()["detail"]
    assert upload(client, entry["id"], alice, checkpoint_files(other)).status_code in (409, 422)
    assert sha256_of(folder / "model.safetensors") == digest
    assert not list(app.state.settings.staging_root.iterdir())


# ---- rate limit ------------------------------------------------------------------------------------------------
def test_a_token_over_its_rate_limit_gets_429_with_retry_after(tmp_path):
    app = make_app(tmp_path, rate_limit_requests=3, rate_limit_window_s=600.0)
    client = TestClient(app)
    alice, bob = add_user(app, "alice"), add_user(app, "bob")
    codes = [client.get("/api/v1/me", headers=auth(alice)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/me", headers=auth(alice))
    assert int(limited.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/me", headers=auth(bob)).status_code == 200  # per token


# ---- listing and verification ----------------------------------------------------------------------------------
def test_the_board_ranks_verified_entries_by_default_and_all_with_all_true(server, checkpoint):
    app, client, alice, bob = server
    low = client.post(SUBMIT, json=results_dict(score=0.2, agent="low"), headers=auth(alice)).json()
    high = client.post(SUBMIT, json=results_dict(score=0.8, agent="high"), headers=auth(bob)).json()
    assert client.get(BOARD).json()["entries"] == []
    ranked = client.get(BOARD, params={"all": "true"}).json()["entries"]
    assert [row["entry"]["id"] for row in ranked] == [high["id"], low["id"]]
    assert [row["rank"] for row in ranked] == [1, 2]
    assert ranked[0]["overlaps"] == []  # 0.8 +- 0 and 0.2 +- 0 do not overlap

    for entry in (low, high):
        assert (
            upload(client, entry["id"], alice if entry is low else bob, checkpoint_files(checkpoint)).status_code == 200
        )
    with app.state.sessionmaker() as session:
        claimed = db.claim_pending(session)
        assert claimed.id == low["id"]  # oldest first
        assert db.claim_pending(session).id == high["id"]
        assert db.claim_pending(session) is None  # both claimed
        rerun = parse_results(results_dict(score=0.2, agent="low", seed_set="test"))
        db.record_verification(session, low["id"], db.VERIFIED, rerun, note="agrees")
        db.record_failure(session, high["id"], "ran out of time")
    board = client.get(BOARD).json()["entries"]
    assert [row["entry"]["id"] for row in board] == [low["id"]]
    assert board[0]["entry"]["status"] == "verified" and board[0]["entry"]["rerun_summary"]["iqm"] == pytest.approx(0.2)
    assert client.get(f"{SUBMIT}/{high['id']}").json()["status"] == "failed"


def test_the_board_comes_in_pages_that_add_up_to_the_whole_ranking(server):
    """``limit``/``offset`` pages of a board: together the full listing (ranks, overlaps, order), each page ranked
    against the whole track, in the order the entries' own summaries rank them (``metrics.rank``)."""
    from nitrogen_leaderboard.metrics import Summary, rank

    _app, client, alice, _bob = server
    for index, score in enumerate([0.1, 0.3, 0.3, 0.5, 0.7, 0.71, 0.9]):
        assert client.post(SUBMIT, json=results_dict(score=score, agent=f"a{index}"), headers=auth(alice)).is_success
    whole = client.get(BOARD, params={"all": "true", "limit": 500}).json()
    assert whole["total"] == 7 and whole["offset"] == 0 and whole["limit"] == 500 and len(whole["entries"]) == 7
    pages = [client.get(BOARD, params={"all": "true", "limit": 3, "offset": first}).json() for first in (0, 3, 6)]
    assert [page["total"] for page in pages] == [7, 7, 7] and [len(page["entries"]) for page in pages] == [3, 3, 1]
    assert [row for page in pages for row in page["entries"]] == whole["entries"]
    assert any(row["overlaps"] for row in whole["entries"])  # 0.7 and 0.71 overlap: a page reaches past itself

    by_summary = rank({str(row["entry"]["id"]): Summary.from_dict(row["entry"]["summary"]) for row in whole["entries"]})
    assert [int(row.name) for row in by_summary] == [row["entry"]["id"] for row in whole["entries"]]
    assert [[int(key) for key in row.overlaps_with] for row in by_summary] == [r["overlaps"] for r in whole["entries"]]

    past = client.get(BOARD, params={"all": "true", "offset": 7}).json()
    assert past["entries"] == [] and past["total"] == 7
    assert client.get(BOARD).json()["total"] == 0  # nothing verified
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}):
        assert client.get(BOARD, params=bad).status_code == 422


def test_an_entry_withdrawn_while_its_board_is_listed_is_left_out_not_a_500(server, monkeypatch):
    """The listing reads the scores, then the page's entries: one deleted in between is skipped."""
    _app, client, alice, _bob = server
    ids = [
        client.post(SUBMIT, json=results_dict(score=s, agent=f"w{s}"), headers=auth(alice)).json()["id"]
        for s in (0.2, 0.6)
    ]
    real = db.entries_by_id
    monkeypatch.setattr(
        db, "entries_by_id", lambda session, wanted: {k: v for k, v in real(session, wanted).items() if k != ids[1]}
    )
    board = client.get(BOARD, params={"all": "true"})
    assert board.status_code == 200 and [row["entry"]["id"] for row in board.json()["entries"]] == [ids[0]]
    page = client.get("/", params={"all": "1"})
    assert page.status_code == 200 and f"/entries/{ids[0]}" in page.text and f"/entries/{ids[1]}" not in page.text


def test_the_page_shows_the_first_entries_of_a_long_track_and_says_where_the_rest_are(server):
    from nitrogen_leaderboard.protocol import load_protocol
    from nitrogen_leaderboard.server.web import board_views

    app, client, alice, _bob = server
    ids = [
        client.post(SUBMIT, json=results_dict(score=score, agent=f"p{score}"), headers=auth(alice)).json()["id"]
        for score in (0.2, 0.9, 0.5)
    ]
    with app.state.sessionmaker() as session:
        views, hidden, notes = board_views(session, load_protocol("unseen-v1"), show_all=True, per_track=2)
        assert [view.id for view in views] == [ids[1], ids[2]] and hidden == 3  # best first; none verified
        assert notes == [
            "zero-shot: the first 2 of 3 entries are shown; the API lists the rest "
            "(GET /api/v1/leaderboard/unseen-v1/zero-shot?offset=2&all=true; "
            "`nitrogen board unseen-v1 zero-shot --server URL --offset 2 --all`)."
        ]
        assert board_views(session, load_protocol("unseen-v1"), show_all=True)[2] == []  # 3 fit a page: no note
    page = client.get("/", params={"all": "1"}).text
    assert all(f"/entries/{entry_id}" in page for entry_id in ids) and "are shown; the API lists the rest" not in page


def test_record_verification_refuses_unknown_statuses_and_entries_without_weights(server):
    app, client, alice, _bob = server
    entry = client.post(SUBMIT, json=results_dict(), headers=auth(alice)).json()
    rerun = parse_results(results_dict(seed_set="test"))
    with app.state.sessionmaker() as session:
        with pytest.raises(ValueError, match="must be one of"):
            db.record_verification(session, entry["id"], "great", rerun)
        with pytest.raises(ValueError, match="no weights"):
            db.record_verification(session, entry["id"], db.VERIFIED, rerun)


# ---- restart, health, logs -------------------------------------------------------------------------------------
def test_the_server_restarts_on_its_sqlite_file_with_nothing_lost(tmp_path, checkpoint):
    app = make_app(tmp_path)
    alice = add_user(app, "alice")
    with TestClient(app) as client:
        entry = client.post(SUBMIT, json=results_dict(), headers=auth(alice)).json()
        assert upload(client, entry["id"], alice, checkpoint_files(checkpoint)).status_code == 200
    app.state.engine.dispose()

    reborn = make_app(tmp_path)
    with TestClient(reborn) as client:
        back = client.get(f"{SUBMIT}/{entry['id']}").json()
        assert back["status"] == "pending" and back["score"] == entry["score"] and back["submitter"] == "alice"
        assert client.get("/api/v1/me", headers=auth(alice)).json() == {"name": "alice", "entries": [entry["id"]]}
        assert client.post(SUBMIT, json=results_dict(), headers=auth(alice)).json()["id"] == entry["id"]
    with reborn.state.sessionmaker() as session:
        assert db.weights_folder(reborn.state.settings, session.get(db.Entry, entry["id"])).is_dir()
    reborn.state.engine.dispose()


def test_health_reports_the_database_and_migration(server):
    _app, client, _alice, _bob = server
    assert client.get("/health").json() == {"status": "ok", "database": "sqlite", "revision": "0002"}
    spec = client.get("/openapi.json").json()
    assert {"/health", "/api/v1/submissions", "/api/v1/submissions/{entry_id}/weights"} <= set(spec["paths"])


def test_requests_are_logged_as_json_with_status_and_user(server):
    from nitrogen_leaderboard.server.logs import JsonFormatter

    _app, client, alice, _bob = server
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("nitrogen_leaderboard.server.app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        client.get("/api/v1/me", headers=auth(alice))
    finally:
        logger.removeHandler(handler)
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["message"] == "request" and line["status"] == 200
    assert line["user"] == "alice" and line["path"] == "/api/v1/me" and line["duration_ms"] >= 0


def test_deeply_nested_json_is_a_client_error_not_a_crash(server):
    _app, client, alice, _bob = server
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(SUBMIT, content=body, headers={**auth(alice), "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500


# ---- the CLI: add-user, submit ---------------------------------------------------------------------------------
def nitrogen(*args, env=None):
    from nitrogen_envs.cli import cli

    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False, standalone_mode=False)


def run_cli(*args, env=None):
    """Run ``nitrogen ARGS`` as the console script does: (exit code, stdout, stderr)."""
    from nitrogen_envs.cli import cli

    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_add_user_prints_a_token_that_works_and_the_database_holds_only_its_hash(tmp_path):
    code, out, err = run_cli("leaderboard", "add-user", "carol", "--data-dir", str(tmp_path))
    assert code == 0, err
    token = out.strip()
    assert token.startswith("ngl_") and len(token) > 40 and "not stored" in err
    assert b"ngl_" not in (tmp_path / "leaderboard.db").read_bytes()
    app = make_app(tmp_path)
    with app.state.sessionmaker() as session:
        user = session.scalar(select(db.User).where(db.User.name == "carol"))
        assert user.token_hash == db.hash_token(token) and token not in user.token_hash
    client = TestClient(app)
    assert client.get("/api/v1/me", headers=auth(token)).json()["name"] == "carol"
    code, _out, err = run_cli("leaderboard", "add-user", "carol", "--data-dir", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "already exists" in err
    code, out, _err = run_cli("leaderboard", "migrate", "--data-dir", str(tmp_path))
    assert code == 0 and "revision 0002" in out


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A real uvicorn on a free loopback port, with user alice; yields (url, token, app)."""
    data = tmp_path_factory.mktemp("live")
    app = create_app(ServerSettings(data_dir=data, max_body_bytes=400_000))
    token = add_user(app, "alice")
    with LiveServer(app) as url:
        yield url, token, app
    app.state.engine.dispose()


def test_submit_over_real_http_with_weights_is_safe_to_retry(live, checkpoint, tmp_path):
    from nitrogen_leaderboard.client import submit

    url, token, _app = live
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results_dict(score=0.6, weights_sha256=sha256_of(checkpoint / "model.safetensors"))))
    first = submit(path, url, token, weights=checkpoint)
    again = submit(path, url, token, weights=checkpoint)
    assert first.created and not again.created
    assert first.entry_id == again.entry_id and again.status == "pending"
    code, out, err = run_cli("submit", str(path), "--server", url, "--token", token)
    assert code == 0, err
    assert f"already submitted: entry {first.entry_id} (pending" in out


def assert_one_line_error(code, err, *needles):
    assert code == 1
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_submit_errors_are_one_line(live, tmp_path):
    url, token, _app = live
    good = tmp_path / "results.json"
    good.write_text(json.dumps(results_dict(score=0.3)))
    code, _out, err = run_cli("submit", str(good), "--server", url, "--token", "ngl_wrong")
    assert_one_line_error(code, err, "refused the token", "add-user")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**results_dict(), "track": "few-shot"}))
    code, _out, err = run_cli("submit", str(bad), "--server", url, "--token", token)
    assert_one_line_error(code, err, "bad.json: track")

    closed = f"http://127.0.0.1:{free_port()}"
    code, _out, err = run_cli("submit", str(good), "--server", closed, "--token", token, "--retries", "0")
    assert_one_line_error(code, err, "cannot reach the leaderboard server", closed)

    big = tmp_path / "big.json"
    raw = results_dict()
    big.write_text(json.dumps({**raw, "episodes": raw["episodes"] * 6}))  # over the live server's 400 kB
    code, _out, err = run_cli("submit", str(big), "--server", url, "--token", token)
    assert_one_line_error(code, err, "too large")

    code, _out, err = run_cli("submit", str(good), "--server", url, "--token", token, "--weights", str(tmp_path))
    assert_one_line_error(code, err, "lacks config.json, model.safetensors")


def test_board_command_reads_a_track_s_ranking_page_by_page_and_refuses_an_unknown_track(live, tmp_path):
    from nitrogen_leaderboard.client import read_board, submit

    url, token, _app = live
    for score, agent in ((0.2, "board-low"), (0.9, "board-high"), (0.5, "board-mid")):
        path = tmp_path / f"{agent}.json"
        path.write_text(json.dumps(results_dict(score=score, agent=agent, track="fine-tuned-5")))
        submit(path, url, token)
    assert read_board(url, "unseen-v1", "fine-tuned-5").entries == ()  # unverified entries are listed only when asked
    board = read_board(url, "unseen-v1", "fine-tuned-5", include_unverified=True)
    ours = [entry.agent_name for entry in board.entries if entry.agent_name.startswith("board-")]
    assert ours == ["board-high", "board-mid", "board-low"] and board.total >= 3
    assert [entry.rank for entry in board.entries] == list(range(1, len(board.entries) + 1))
    second = read_board(url, "unseen-v1", "fine-tuned-5", limit=1, offset=1, include_unverified=True)
    assert second.offset == 1 and [entry.entry_id for entry in second.entries] == [board.entries[1].entry_id]

    code, out, err = run_cli("board", "unseen-v1", "fine-tuned-5", "--server", url, "--all")
    assert code == 0, err
    heading, header, *rows = out.splitlines()
    assert heading.startswith("unseen-v1 / fine-tuned-5: ranks 1-") and "(all entries)" in heading
    assert header.split()[:4] == ["rank", "id", "agent", "submitter"] and len(rows) == len(board.entries)
    assert rows[0].split()[2] == board.entries[0].agent_name
    code, out, _err = run_cli("board", "unseen-v1", "fine-tuned-5", "--server", url, "--all", "--json", "--limit", "2")
    assert code == 0 and len(json.loads(out)["entries"]) == 2
    code, out, _err = run_cli("board", "unseen-v1", "fine-tuned-5", "--server", url)
    assert code == 0 and "no verified entries" in out

    code, _out, err = run_cli("board", "unseen-v1", "few-shot", "--server", url)
    assert_one_line_error(code, err, "has no track 'few-shot'", "zero-shot")
    closed = f"http://127.0.0.1:{free_port()}"
    code, _out, err = run_cli("board", "unseen-v1", "zero-shot", "--server", closed, "--retries", "0")
    assert_one_line_error(code, err, "cannot reach the leaderboard server", closed)


# ---- built-in agents ------------------------------------------------------------------------------------------
def test_the_builtin_random_agent_waits_for_the_worker_without_weights_and_refuses_weights(server, checkpoint):
    app, client, alice, _bob = server
    random_entry = client.post(SUBMIT, json=results_dict(agent="random"), headers=auth(alice)).json()
    assert random_entry["status"] == "pending" and random_entry["weights_sha256"] is None
    # only the exact built-in name, without claimed weights, is the server's own agent
    for agent, claimed in (("Random", None), ("random ", None), ("random", "ab" * 32)):
        other = client.post(SUBMIT, json=results_dict(agent=agent, weights_sha256=claimed), headers=auth(alice))
        assert other.json()["status"] == "unverified", agent
    response = upload(client, random_entry["id"], alice, checkpoint_files(checkpoint))
    assert response.status_code == 422 and "built-in agent 'random'" in response.json()["detail"]
    assert client.get(f"{SUBMIT}/{random_entry['id']}").json()["weights_sha256"] is None
    assert stored_files(app.state.settings.data_dir) == []


def test_migration_0002_queues_random_entries_filed_before_it(tmp_path):
    settings = ServerSettings(data_dir=tmp_path)
    engine = db.make_engine(settings)
    db.upgrade(engine, "0001")
    with db.make_sessionmaker(engine)() as session:
        token = db.add_user(session, "old")
        user = db.user_for_token(session, token)
        for agent in ("random", "mine"):
            entry, _ = db.insert_results(session, user, parse_results(results_dict(agent=agent)))
            entry.status = "unverified"  # what revision 0001's code filed
        session.commit()
    db.upgrade(engine)
    with db.make_sessionmaker(engine)() as session:
        statuses = dict(session.execute(select(db.Entry.agent_name, db.Entry.status)).all())
    assert statuses == {"random": "pending", "mine": "unverified"} and db.current_revision(engine) == "0002"
    engine.dispose()


# ---- listing cost ---------------------------------------------------------------------------------------------
def test_a_listing_loads_summaries_but_not_the_whole_results_files(server):
    from sqlalchemy import inspect

    app, client, alice, _bob = server
    ids = [client.post(SUBMIT, json=results_dict(score=s), headers=auth(alice)).json()["id"] for s in (0.2, 0.6)]
    with app.state.sessionmaker() as session:
        listed = db.list_entries(session, "unseen-v1", "zero-shot", include_all=True)
        assert [entry.id for entry in listed] == ids[::-1]  # best first, as before
        for entry in listed:
            assert {"results_json", "rerun_json"} <= inspect(entry).unloaded
            assert "summary_json" not in inspect(entry).unloaded and entry.summary["iqm"] == entry.score
        assert len(listed[0].results.episodes) == 660  # still reachable on demand (one query for that row)
    rows = client.get(BOARD, params={"all": "true"}).json()["entries"]
    assert [row["entry"]["id"] for row in rows] == ids[::-1] and rows[0]["entry"]["summary"]["per_task"]


# ---- serve's in-process worker --------------------------------------------------------------------------------
def test_serve_hands_its_rerun_limit_flags_to_the_in_process_worker(tmp_path, monkeypatch):
    import uvicorn

    from nitrogen_envs.cli import cli
    from nitrogen_leaderboard import worker
    from nitrogen_leaderboard.server.settings import GIB
    from nitrogen_leaderboard.worker import RerunLimits

    started = {}

    class Stopped:
        def stop(self):
            started["stopped"] = True

    def fake_worker(settings, limits=None, poll_s=5.0):
        started["limits"] = limits
        return Stopped()

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(worker, "start_background_worker", fake_worker)
    from nitrogen_leaderboard.server import logs

    monkeypatch.setattr(logs, "configure_json_logging", lambda level: None)  # keep pytest's log handlers
    args = ["leaderboard", "serve", "--data-dir", str(tmp_path), "--cpu-hours", "0.5", "--memory-gb", "2"]
    result = CliRunner().invoke(cli, [*args, "--wall-hours", "1", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert started == {
        "limits": RerunLimits(cpu_s=1800, memory_bytes=2 * GIB, wall_s=3600.0, threads=2),
        "stopped": True,
    }
    bad = CliRunner().invoke(cli, ["leaderboard", "serve", "--data-dir", str(tmp_path), "--memory-gb", "0.1"])
    assert bad.exit_code == 2 and "--memory-gb" in bad.output
