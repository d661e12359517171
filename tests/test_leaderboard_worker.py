"""The verification worker re-runs submitted weights on secret test seeds and judges the reported score."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
torch = pytest.importorskip("torch")

from fastapi.testclient import TestClient  # noqa: E402

from nitrogen_leaderboard import metrics  # noqa: E402
from nitrogen_leaderboard.protocol import load_protocol  # noqa: E402
from nitrogen_leaderboard.runner import run_protocol  # noqa: E402
from nitrogen_leaderboard.schema import ResultsFile  # noqa: E402
from nitrogen_leaderboard.server import db  # noqa: E402
from nitrogen_leaderboard.server.app import create_app  # noqa: E402
from nitrogen_leaderboard.server.settings import ServerSettings  # noqa: E402
from nitrogen_leaderboard.worker import (  # noqa: E402
    RerunLimits,
    WeightsFolderRefused,
    check_weights_folder,
    server_secret,
    verdict,
    verify_pending,
)
from nitrogen_policies import NitroGenPolicy  # noqa: E402

# One layer, one Euler step, 32 px frames: a re-run of 2 episodes x 8 steps costs well under a second of compute.
TINY = {
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 1,
    "image_size": 32,
    "cnn_channels": (8, 16),
    "chunk_size": 8,
    "n_action_steps": 8,
    "num_inference_steps": 1,
}
SECRET = "test-secret-of-the-server-0123456789"
LIMITS = RerunLimits(cpu_s=120, memory_bytes=6 * 1024**3, wall_s=180, threads=1)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A server whose only extra protocol is a tiny one, a submitter, a tiny policy and its honest dev results.

    Maze/hard in 8 steps never reaches the goal, so every episode scores the same on dev and test seeds: the
    honest entry's intervals must agree exactly, and any upward edit must fall outside the re-run's.
    """
    root = tmp_path_factory.mktemp("board")
    tiny = dataclasses.replace(
        load_protocol("unseen-v1").restricted(tasks=["Maze/hard"], episodes_per_task=2, max_steps=8), name="tiny-v1"
    )
    protocol_file = root / "tiny-v1.json"
    protocol_file.write_text(json.dumps(tiny.to_dict()))
    settings = ServerSettings(data_dir=root / "data", protocol_files=(protocol_file,), rate_limit_requests=10_000)
    torch.manual_seed(0)
    weights = NitroGenPolicy.from_config("nitrogen-s", **TINY).save_pretrained(root / "tiny-policy")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        honest = run_protocol(str(weights), tiny, track="zero-shot", seed_set="dev")
    finally:
        torch.set_num_threads(threads)
    client = TestClient(create_app(settings))
    sessions = db.make_sessionmaker(db.make_engine(settings))
    with sessions() as session:
        token = db.add_user(session, "alice")
    return {
        "settings": settings,
        "weights": Path(weights),
        "honest": honest,
        "client": client,
        "headers": {"Authorization": f"Bearer {token}"},
        "sessions": sessions,
    }


def submit(board, results: ResultsFile, weights: Path | None = None) -> int:
    client, headers = board["client"], board["headers"]
    response = client.post("/api/v1/submissions", json=results.model_dump(mode="json"), headers=headers)
    assert response.status_code in (200, 201), response.text
    entry_id = response.json()["id"]
    if weights is not None:
        files = {name: (name, (weights / name).read_bytes()) for name in ("config.json", "model.safetensors")}
        response = client.put(f"/api/v1/submissions/{entry_id}/weights", files=files, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"
    return entry_id


def entry(board, entry_id: int) -> db.Entry:
    with board["sessions"]() as session:
        found = db.get_entry(session, entry_id)
        assert found is not None
        return found


def inflated(results: ResultsFile, by: float = 1.0) -> ResultsFile:
    """The same run with every score edited upward (what a dishonest submitter would send)."""
    episodes = [
        episode.model_copy(update={"score_normalized": (episode.score_normalized or 0.0) + by, "success": True})
        for episode in results.episodes
    ]
    return results.model_copy(update={"episodes": episodes})


# ---- end to end ----------------------------------------------------------------------------------------
@pytest.mark.slow  # two child processes that import torch: ~20 s on an idle 2-core machine, ~60 s on a busy one
def test_honest_entry_verifies_inflated_one_reproduces_low_and_weightless_one_stays_unverified(board):
    honest_id = submit(board, board["honest"], board["weights"])
    inflated_id = submit(board, inflated(board["honest"]), board["weights"])
    bare_id = submit(board, inflated(board["honest"], by=0.5))

    outcomes = verify_pending(board["settings"], once=True, limits=LIMITS, secret=SECRET)

    assert sorted((o.entry_id, o.status) for o in outcomes) == [
        (honest_id, "verified"),
        (inflated_id, "reproduced-low"),
    ]
    honest, low, bare = entry(board, honest_id), entry(board, inflated_id), entry(board, bare_id)
    assert (honest.status, low.status, bare.status) == ("verified", "reproduced-low", "unverified")
    assert bare.rerun_json is None and bare.verified_at is None
    rerun = honest.rerun
    assert rerun is not None and rerun.seed_set == "test"
    test_seeds = load_protocol(str(board["settings"].protocol_files[0])).test_seeds(
        load_protocol(str(board["settings"].protocol_files[0])).tasks[0], SECRET
    )
    assert sorted(e.seed for e in rerun.episodes) == sorted(test_seeds)  # the secret seeds, not the dev ones
    assert not {e.seed for e in rerun.episodes} & {e.seed for e in board["honest"].episodes}
    assert "re-run" in (low.verification_note or "")
    # only the verified entry ranks by default
    listed = board["client"].get("/api/v1/leaderboard/tiny-v1/zero-shot").json()["entries"]
    assert [row["entry"]["id"] for row in listed] == [honest_id]
    assert verify_pending(board["settings"], once=True, limits=LIMITS, secret=SECRET) == []  # queue drained


def test_weights_with_an_extra_file_on_disk_are_refused_and_the_entry_marked_failed(board):
    entry_id = submit(board, inflated(board["honest"], by=0.25), board["weights"])
    folder = board["settings"].weights_root / str(entry_id)
    (folder / "extra.py").write_text("print('hi')\n")
    outcomes = verify_pending(board["settings"], once=True, limits=LIMITS, secret=SECRET)
    assert [(o.entry_id, o.status) for o in outcomes] == [(entry_id, "failed")]
    stored = entry(board, entry_id)
    assert stored.status == "failed" and "extra.py" in (stored.verification_note or "")
    assert stored.rerun_json is None


def test_a_rerun_over_its_memory_limit_fails_with_the_reason(board):
    entry_id = submit(board, inflated(board["honest"], by=0.125), board["weights"])
    tight = dataclasses.replace(LIMITS, memory_bytes=200 * 1024**2)  # torch cannot even be imported in 200 MB
    outcomes = verify_pending(board["settings"], once=True, limits=tight, secret=SECRET)
    assert [(o.entry_id, o.status) for o in outcomes] == [(entry_id, "failed")]
    assert "memory limit of 209715200 bytes" in outcomes[0].note
    assert entry(board, entry_id).status == "failed"


def test_a_rerun_over_its_wall_time_limit_is_killed_and_fails(board):
    entry_id = submit(board, inflated(board["honest"], by=0.0625), board["weights"])
    outcomes = verify_pending(
        board["settings"], once=True, limits=dataclasses.replace(LIMITS, wall_s=0.2), secret=SECRET
    )
    assert [(o.entry_id, o.status) for o in outcomes] == [(entry_id, "failed")]
    assert "wall-time limit of 0.2 s" in outcomes[0].note


@pytest.mark.slow  # one child process that imports torch: ~10 s idle, ~30 s on a busy 2-core machine
def test_the_builtin_random_agent_is_rerun_by_the_server_with_its_own_spec_and_ranks(board, monkeypatch):
    from nitrogen_leaderboard import worker
    from nitrogen_leaderboard.schema import BUILTIN_AGENTS

    tiny = load_protocol(str(board["settings"].protocol_files[0]))
    reported = run_protocol("random", tiny, track="zero-shot", seed_set="dev")
    entry_id = submit(board, reported)
    assert entry(board, entry_id).status == "pending"  # no weights, yet waiting for the worker
    specs = []
    real_rerun = worker.rerun

    def spy(agent, *args, **kwargs):
        specs.append(agent)
        return real_rerun(agent, *args, **kwargs)

    monkeypatch.setattr(worker, "rerun", spy)
    outcomes = verify_pending(board["settings"], once=True, limits=LIMITS, secret=SECRET)
    assert [(o.entry_id, o.status) for o in outcomes] == [(entry_id, "verified")]
    assert specs == ["random"] and specs[0] is BUILTIN_AGENTS["random"]  # the server's constant, not the row's
    verified = entry(board, entry_id)
    assert verified.rerun is not None and verified.rerun.seed_set == "test"
    assert {e.seed for e in verified.rerun.episodes} == set(tiny.test_seeds(tiny.tasks[0], SECRET))
    listed = board["client"].get("/api/v1/leaderboard/tiny-v1/zero-shot").json()["entries"]
    assert entry_id in [row["entry"]["id"] for row in listed]  # on the default (verified-only) board


def test_the_rerun_child_refuses_any_agent_but_a_folder_or_a_builtin(tmp_path):
    from nitrogen_leaderboard.rerun import RerunRefused, check_agent

    check_agent("random")
    check_agent(str(tmp_path))
    for spec in ("os:system", "nitrogen-s-procgen6", "Random", str(tmp_path / "missing")):
        with pytest.raises(RerunRefused, match="only a weights folder or a built-in agent"):
            check_agent(spec)


def test_refuse_pickle_is_public_and_names_the_pickle(tmp_path):
    from nitrogen_leaderboard.server.weights import WeightsRejected, refuse_pickle

    (tmp_path / "config.json").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsRejected, match=r"config\.json is a pickle"):
        refuse_pickle(tmp_path / "config.json")


# ---- pieces --------------------------------------------------------------------------------------------
def test_check_weights_folder_accepts_exactly_the_two_files_and_refuses_anything_else(board, tmp_path):
    check_weights_folder(board["weights"])  # what save_pretrained writes passes
    extra = tmp_path / "extra"
    extra.mkdir()
    for name in ("config.json", "model.safetensors", "optimizer.pt"):
        (extra / name).write_bytes((board["weights"] / name).read_bytes() if name != "optimizer.pt" else b"x")
    with pytest.raises(WeightsFolderRefused, match=r"exactly config.json and model.safetensors.*optimizer.pt"):
        check_weights_folder(extra)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_bytes(pickle.dumps({"a": 1}))
    (pickled / "model.safetensors").write_bytes(pickle.dumps({"weights": [1.0] * 10}))
    with pytest.raises(WeightsFolderRefused, match="pickle"):
        check_weights_folder(pickled)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "config.json").write_bytes((board["weights"] / "config.json").read_bytes())
    os.symlink(board["weights"] / "model.safetensors", linked / "model.safetensors")
    with pytest.raises(WeightsFolderRefused, match="not a regular file"):
        check_weights_folder(linked)


def summary(iqm, low, high):
    return metrics.Summary(per_task={}, iqm=iqm, ci_low=low, ci_high=high, episodes=10)


@pytest.mark.parametrize(
    ("reported", "rerun", "expected"),
    [
        ((0.5, 0.4, 0.6), (0.5, 0.4, 0.6), "verified"),  # equal
        ((0.5, 0.4, 0.6), (0.35, 0.25, 0.41), "verified"),  # lower but overlapping
        ((0.5, 0.4, 0.6), (0.9, 0.8, 1.0), "verified"),  # re-run better: generalises, not inflated
        ((0.5, 0.4, 0.6), (0.3, 0.2, 0.39), "reproduced-low"),  # entirely below
    ],
    ids=["equal", "overlap", "better", "below"],
)
def test_verdict_follows_the_intervals(reported, rerun, expected):
    assert verdict(summary(*reported), summary(*rerun)) == expected


def test_zero_setup_secret_is_generated_once_private_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv("NITROGEN_LEADERBOARD_TEST_SECRET", raising=False)
    settings = ServerSettings(data_dir=tmp_path)
    first = server_secret(settings)
    assert len(first) >= 32 and server_secret(settings) == first
    assert (tmp_path / "test-seed-secret").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("NITROGEN_LEADERBOARD_TEST_SECRET", "an-operator-secret-123")
    assert server_secret(settings) == "an-operator-secret-123"


# ---- in-process (the zero-setup server) ----------------------------------------------------------------
def wait_for(predicate, seconds=60.0):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_background_worker_verifies_while_serving_and_stop_leaves_an_interrupted_entry_pending(board, monkeypatch):
    from nitrogen_leaderboard.worker import start_background_worker

    monkeypatch.setenv("NITROGEN_LEADERBOARD_TEST_SECRET", SECRET)
    refused = submit(board, inflated(board["honest"], by=0.03125), board["weights"])
    (board["settings"].weights_root / str(refused) / "notes.txt").write_text("x")
    slow = submit(board, inflated(board["honest"], by=0.015625), board["weights"])

    background = start_background_worker(board["settings"], limits=LIMITS, poll_s=0.2)
    try:
        assert wait_for(lambda: entry(board, refused).status == "failed")
        assert wait_for(lambda: entry(board, slow).claimed_at is not None)  # its re-run child is starting
    finally:
        background.stop()
    assert not background.thread.is_alive()
    psutil = pytest.importorskip("psutil")
    assert not [p for p in psutil.Process().children(recursive=True) if "nitrogen_leaderboard.rerun" in p.cmdline()]
    interrupted = entry(board, slow)
    assert (interrupted.status, interrupted.claimed_at) == ("pending", None)  # the next worker takes it again
    with board["sessions"]() as session:  # leave the queue empty for the other tests
        db.record_failure(session, slow, "test cleanup")
