"""Loading never runs code or allocates before checking: imitation files, config.json, safetensors, Hub ids."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nitrogen_policies.errors import TrajectoryFileError
from nitrogen_policies.training.trajectory_files import read_trajectories


class Payload:
    """Unpickling this creates ``marker``: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def legacy_npz(path, trajectories, **extra):
    """imitation's older .npz layout: concatenated arrays split at ``indices``."""
    lengths = [len(t["acts"]) for t in trajectories]
    np.savez(
        path,
        obs=np.concatenate([t["obs"] for t in trajectories]),
        acts=np.concatenate([t["acts"] for t in trajectories]),
        rews=np.concatenate([t["rews"] for t in trajectories]),
        terminal=np.array([True] * len(trajectories)),
        indices=np.cumsum(lengths)[:-1],
        **extra,
    )
    return path


def trajectory(steps, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.integers(0, 256, (steps + 1, 8, 8, 3), dtype=np.uint8),
        "acts": rng.random((steps, 21), dtype=np.float32),
        "rews": rng.random(steps, dtype=np.float32),
    }


# ---- imitation trajectories: no pickle ------------------------------------------------------------------
def test_a_pickle_file_is_refused_before_it_is_unpickled(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "trajs.pkl"
    evil.write_bytes(pickle.dumps([Payload(marker)]))
    with pytest.raises(TrajectoryFileError, match=r"pickle files are refused"):
        list(read_trajectories(evil))
    assert not marker.exists()


def test_an_npz_with_a_pickled_array_is_refused_and_its_payload_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "trajs.npz"
    np.savez(evil, obs=np.array([Payload(marker)], dtype=object), acts=np.zeros((1, 21)), indices=np.zeros(0, int),
             terminal=np.array([True]))  # fmt: skip
    with pytest.raises(TrajectoryFileError, match="needs pickle"):
        list(read_trajectories(evil))
    assert not marker.exists()


def test_legacy_npz_is_read_and_its_pickled_infos_are_never_loaded(tmp_path):
    marker = tmp_path / "ran"
    parts = [trajectory(3, seed=1), trajectory(5, seed=2)]
    infos = np.array([Payload(marker)] * 8, dtype=object)
    got = list(read_trajectories(legacy_npz(tmp_path / "trajs.npz", parts, infos=infos)))
    assert not marker.exists()
    assert len(got) == 2
    for loaded, expected in zip(got, parts, strict=True):
        np.testing.assert_array_equal(loaded.obs, expected["obs"])
        np.testing.assert_array_equal(loaded.acts, expected["acts"])
        np.testing.assert_array_equal(loaded.rews, expected["rews"])
        assert loaded.terminal


def test_serialize_save_folders_read_the_same_as_imitation_without_decoding_infos(tmp_path):
    pytest.importorskip("imitation")
    from imitation.data import serialize, types

    marker = tmp_path / "ran"
    # jsonpickle (imitation's infos encoding) builds objects on decode: this one would create the marker.
    hostile_info = {"py/reduce": [{"py/function": "os.mkdir"}, {"py/tuple": [str(marker)]}]}
    parts = [trajectory(3, seed=1), trajectory(5, seed=2)]
    saved = [types.TrajectoryWithRew(infos=None, terminal=True, **part) for part in parts]
    serialize.save(str(tmp_path / "trajs"), saved)
    arrow = next((tmp_path / "trajs").glob("*.arrow"))
    _replace_infos(arrow, json.dumps(hostile_info))
    got = list(read_trajectories(tmp_path / "trajs"))
    assert not marker.exists()
    for loaded, expected in zip(got, parts, strict=True):
        assert loaded.obs.dtype == np.uint8
        np.testing.assert_array_equal(loaded.obs, expected["obs"])
        np.testing.assert_array_equal(loaded.acts, expected["acts"])
        np.testing.assert_array_equal(loaded.rews, expected["rews"])


def _replace_infos(arrow: Path, info: str) -> None:
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.BufferReader(arrow.read_bytes())).read_all()
    infos = pa.array(
        [[info] * len(row) for row in table.column("infos").to_pylist()], type=table.schema.field("infos").type
    )
    table = table.set_column(table.schema.get_field_index("infos"), "infos", infos)
    with pa.OSFile(str(arrow), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


@pytest.mark.parametrize("kind", ["fifo", "npy", "no_state", "escaping_state", "garbage_arrow"])
def test_other_inputs_get_a_one_line_error_naming_the_accepted_formats(tmp_path, kind):
    target = tmp_path / "input"
    if kind == "fifo":
        os.mkfifo(target)  # opening it for reading would hang
    elif kind == "npy":
        np.save(tmp_path / "input.npy", np.zeros(3))
        target = tmp_path / "input.npy"
    else:
        target.mkdir()
        shard = "../outside.arrow" if kind == "escaping_state" else "data-00000-of-00001.arrow"
        if kind != "no_state":
            (target / "state.json").write_text(json.dumps({"_data_files": [{"filename": shard}]}))
        (tmp_path / "outside.arrow").write_bytes(b"x")
        (target / "data-00000-of-00001.arrow").write_bytes(b"\xff" * 64)
    with pytest.raises(TrajectoryFileError) as caught:
        list(read_trajectories(target))
    assert "\n" not in str(caught.value)
    assert "input" in str(caught.value)


def test_finetune_refuses_a_pickle_imitation_file_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "trajs.pkl"
    evil.write_bytes(pickle.dumps([Payload(marker)]))
    run = subprocess.run(
        [sys.executable, "-m", "nitrogen_envs.cli", "finetune", "--from", "nitrogen-s-procgen6", "--imitation", str(evil),
         "--out", str(tmp_path / "ft"), "--steps", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0
    assert "pickle files are refused" in run.stderr
    assert "Traceback" not in run.stderr
    assert not marker.exists()
    assert not (tmp_path / "ft" / "imitation_data").exists()
