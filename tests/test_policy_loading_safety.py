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


def test_an_npz_whose_header_declares_more_than_it_holds_is_refused_before_allocating(tmp_path):
    import io
    import zipfile

    from numpy.lib import format as npy_format

    header = io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w") as archive:  # 4 TB of float32 declared in a few hundred bytes
        for name in ("obs", "acts", "indices", "terminal"):
            archive.writestr(f"{name}.npy", header.getvalue())
    with pytest.raises(TrajectoryFileError, match="declares shape"):
        list(read_trajectories(bomb))


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


@pytest.mark.classic
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


# ---- checkpoints: config.json and safetensors are checked before anything is allocated --------------------
TINY = {"d_model": 64, "n_heads": 4, "n_layers": 1, "image_size": 32, "cnn_channels": [16, 32], "chunk_size": 4,
        "n_action_steps": 2}  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from nitrogen_policies import NitroGenPolicy

    return NitroGenPolicy.from_config("nitrogen-s", **TINY).save_pretrained(tmp_path_factory.mktemp("ckpt") / "tiny")


def copy_with(checkpoint, target, config=None, weights=None):
    """A copy of ``checkpoint`` with config fields overridden and/or other tensors as weights."""
    import shutil

    from safetensors.torch import save_file

    shutil.copytree(checkpoint, target)
    if config is not None:
        data = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps({**data, **config}))
    if weights is not None:
        save_file(weights, str(target / "model.safetensors"))
    return target


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks the Hub; record what would have been asked."""
    hub = pytest.importorskip("huggingface_hub")
    asked = []

    def refuse(repo_id, **kwargs):
        asked.append(repo_id)
        raise OSError("offline test: the Hub is not contacted")

    monkeypatch.setattr(hub, "snapshot_download", refuse)
    return asked


BOUND_PROBE = """
import json, resource, sys, time
from nitrogen_policies import NitroGenPolicy
from nitrogen_envs.errors import NitroGenError
results = []
for folder in sys.argv[1:]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        NitroGenPolicy.from_pretrained(folder)
        error = None
    except NitroGenError as err:
        error = f"{type(err).__name__}: {err}"
    seconds = time.perf_counter() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    results.append({"seconds": seconds, "grown_mb": grown_mb, "error": error})
print(json.dumps(results))
"""


def test_oversized_and_negative_configs_are_refused_before_allocating(checkpoint, tmp_path):
    # n_layers=100000 took 7.3 GB and 52 s; the last is within every field's bounds but ~80B parameters.
    # The memory bound is the guard; the time bound only has to tell "checked first" (~0.01 s idle) from
    # "built, then refused" (tens of seconds), with room for a loaded shared machine.
    huge = {"d_model": 8192, "n_heads": 8, "n_layers": 64, "mlp_ratio": 16.0}
    folders = [copy_with(checkpoint, tmp_path / name, config) for name, config in
               [("deep", {"n_layers": 100000}), ("negative", {"n_layers": -3}), ("huge", huge)]]  # fmt: skip
    run = subprocess.run([sys.executable, "-c", BOUND_PROBE, *map(str, folders)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    deep, negative, big = json.loads(run.stdout.strip().splitlines()[-1])
    assert "InvalidConfig" in deep["error"] and "n_layers must be an integer in [1, 64], got 100000" in deep["error"]
    assert "InvalidConfig" in negative["error"] and "got -3" in negative["error"]
    assert "CheckpointError" in big["error"] and "parameters, over the limit" in big["error"]
    for result in (deep, negative, big):
        assert result["grown_mb"] < 200, result
        assert result["seconds"] < 10.0, result


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_layers", "3", r"n_layers must be an integer in \[1, 64\], got '3' \(str\)"),
        ("n_layers", 2.5, r"n_layers must be an integer .* got 2.5 \(float\)"),
        ("mlp_ratio", True, r"mlp_ratio must be a number .* got True \(bool\)"),
        ("game_names", "CoinRun", r"game_names must be a list of 1 to 100000 strings"),
        ("cnn_channels", [16, "x"], r"cnn_channels must be a list of 1 to 8 integers"),
        ("encoder", ["cnn"], r"encoder must be a string"),
        ("image_size", 4, r"image_size must be an integer in \[16, 1024\], got 4"),
    ],
)
def test_a_wrong_type_in_config_json_is_a_one_line_typed_error(checkpoint, tmp_path, field, value, message):
    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.errors import InvalidConfig

    folder = copy_with(checkpoint, tmp_path / "bad", {field: value})
    with pytest.raises(InvalidConfig, match=message) as caught:
        NitroGenPolicy.from_pretrained(folder)
    assert "\n" not in str(caught.value)
    assert str(folder / "config.json") in str(caught.value)


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"[" * 100_000, b" " * (1024 * 1024 + 1)])
def test_a_config_json_that_is_not_a_small_json_object_is_refused(checkpoint, tmp_path, content):
    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.errors import CheckpointError

    folder = copy_with(checkpoint, tmp_path / "bad")
    (folder / "config.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"config\.json") as caught:
        NitroGenPolicy.from_pretrained(folder)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("strict", [True, False])
def test_an_unrelated_safetensors_file_is_refused_naming_its_keys(checkpoint, tmp_path, strict):
    import torch

    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.errors import CheckpointError

    folder = copy_with(checkpoint, tmp_path / "other", weights={"vision.fc1.weight": torch.zeros(3, 3)})
    with pytest.raises(CheckpointError, match=r"holds none of this model's tensors \(it has vision.fc1.weight"):
        NitroGenPolicy.from_pretrained(folder, strict=strict)


def test_missing_or_extra_tensors_are_an_error_unless_strict_is_false(checkpoint, tmp_path, caplog):
    import torch
    from safetensors.torch import load_file

    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.errors import CheckpointError

    weights = load_file(str(checkpoint / "model.safetensors"))
    dropped = sorted(weights)[0]
    weights = {key: value for key, value in weights.items() if key != dropped} | {"extra": torch.zeros(2)}
    folder = copy_with(checkpoint, tmp_path / "partial", weights=weights)
    with pytest.raises(CheckpointError, match=rf"missing {dropped}, unexpected extra; pass strict=False"):
        NitroGenPolicy.from_pretrained(folder)
    with caplog.at_level("WARNING"):
        policy = NitroGenPolicy.from_pretrained(folder, strict=False)
    assert dropped in caplog.text and "extra" in caplog.text
    torch.testing.assert_close(policy.model.state_dict()[sorted(weights)[1]], weights[sorted(weights)[1]])


def test_weights_of_another_shape_are_refused_before_the_model_is_built(checkpoint, tmp_path, monkeypatch):
    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.errors import CheckpointError
    from nitrogen_policies.nitrogen import policy_nitrogen

    folder = copy_with(checkpoint, tmp_path / "wider", {"d_model": 128})
    monkeypatch.setattr(policy_nitrogen.NitroGenPolicy, "__init__", lambda *a: pytest.fail("model was allocated"))
    with pytest.raises(CheckpointError, match=r"does not fit the model's config: .* is \(.*64.*\) F32 in the file"):
        NitroGenPolicy.from_pretrained(folder, strict=False)


def test_a_safetensors_file_that_lies_about_its_size_is_refused(checkpoint, tmp_path):
    import struct

    from nitrogen_policies import NitroGenPolicy
    from nitrogen_policies.errors import CheckpointError

    folder = copy_with(checkpoint, tmp_path / "lie")
    header = json.dumps({"a": {"dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 4 * 10**10]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        NitroGenPolicy.from_pretrained(folder)


# ---- which strings go to the Hub ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["runs/final", "./final", "runs/deeper/final", "ABSOLUTE", "PATH_OBJECT"])
def test_a_missing_path_that_looks_local_is_never_sent_to_the_hub(tmp_path, monkeypatch, no_hub, spec):
    from nitrogen_policies.errors import CheckpointError
    from nitrogen_policies.hub import resolve_checkpoint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()  # the parent exists, so runs/final is a local path with a typo
    name = {"ABSOLUTE": str(tmp_path / "runs" / "final"), "PATH_OBJECT": Path("someone/nitrogen")}.get(spec, spec)
    with pytest.raises(CheckpointError, match="no such checkpoint folder") as caught:
        resolve_checkpoint(name)
    assert "\n" not in str(caught.value)
    assert no_hub == []


def test_owner_name_goes_to_the_hub_only_when_nothing_local_has_that_name(tmp_path, monkeypatch, no_hub):
    from nitrogen_policies.errors import CheckpointError
    from nitrogen_policies.hub import resolve_checkpoint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(CheckpointError, match="huggingface-cli download someone/nitrogen") as caught:
        resolve_checkpoint("someone/nitrogen")
    assert "\n" not in str(caught.value)
    with pytest.raises(CheckpointError, match="huggingface-cli download runs/final"):
        resolve_checkpoint("hf://runs/final")  # explicit: the Hub even though runs/ exists
    assert no_hub == ["someone/nitrogen", "runs/final"]


def test_local_folders_and_bundled_names_resolve_without_the_hub(checkpoint, tmp_path, monkeypatch, no_hub):
    from nitrogen_policies.hub import resolve_checkpoint

    monkeypatch.chdir(checkpoint.parent)
    assert resolve_checkpoint(checkpoint.name) == Path(checkpoint.name)
    assert resolve_checkpoint("nitrogen-s-procgen6").name == "nitrogen-s-procgen6"
    assert no_hub == []


def test_finetune_from_a_bad_config_is_a_one_line_error(checkpoint, tmp_path):
    folder = copy_with(checkpoint, tmp_path / "bad", {"n_layers": -3})
    run = subprocess.run(
        [sys.executable, "-m", "nitrogen_envs.cli", "finetune", "--from", str(folder), "--data", str(tmp_path),
         "--out", str(tmp_path / "ft"), "--steps", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "n_layers must be an integer in [1, 64], got -3" in run.stderr
