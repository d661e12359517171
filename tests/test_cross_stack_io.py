"""Checkpoints and datasets written on either supported stack read bit-exactly on the one running the tests.

The files under ``tests/fixtures/cross_stack/`` were written on the classic stack (NumPy 1, Gymnasium 0.29,
pyarrow 21) and the current one (NumPy 2, Gymnasium 1.x, pyarrow 26) by ``tests/fixtures/cross_stack.py``;
``.ci/run`` runs this module on both, so each stack reads what the other wrote.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.classic  # also run on the classic stack (README test command)

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")
pytest.importorskip("av")

from fixtures import cross_stack  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from nitrogen_policies import NitroGenPolicy  # noqa: E402


@pytest.fixture(params=cross_stack.STACKS)
def written(request):
    folder = cross_stack.ROOT / request.param
    return folder, load_file(str(folder / cross_stack.EXPECTED))


def test_both_stacks_fixtures_are_committed():
    assert sorted(p.name for p in cross_stack.ROOT.iterdir()) == sorted(cross_stack.STACKS)


def test_checkpoint_from_either_stack_loads_bit_exactly(written):
    """Every tensor loads bit for bit; the seeded sample matches the fixture up to float32 kernel rounding.

    The fixture's sample was computed on another machine: CPU kernels (AVX2 against AVX-512, oneDNN's choice)
    round float32 sums differently (measured up to 2.4e-7 on an AMD EPYC), while a wrong weight, config or noise
    draw moves the sample by orders of magnitude more.
    """
    folder, expected = written
    policy = NitroGenPolicy.from_pretrained(folder / cross_stack.CHECKPOINT)
    stored = load_file(str(folder / cross_stack.CHECKPOINT / "model.safetensors"))
    loaded = {name: tensor.numpy() for name, tensor in policy.model.state_dict().items()}
    assert loaded.keys() == stored.keys()
    for name, array in stored.items():
        assert loaded[name].dtype == array.dtype and np.array_equal(loaded[name], array), name
    np.testing.assert_allclose(cross_stack.run_policy(policy), expected["policy_raw"], rtol=1e-4, atol=1e-5)


def test_checkpoint_saved_here_keeps_every_tensor(written, tmp_path):
    folder, _ = written
    NitroGenPolicy.from_pretrained(folder / cross_stack.CHECKPOINT).save_pretrained(tmp_path)
    again = load_file(str(tmp_path / "model.safetensors"))
    stored = load_file(str(folder / cross_stack.CHECKPOINT / "model.safetensors"))
    assert again.keys() == stored.keys()
    assert all(np.array_equal(again[name], stored[name]) for name in stored)


def test_dataset_from_either_stack_reads_the_same_frames_actions_and_rewards(written):
    folder, expected = written
    read = cross_stack.read_dataset(folder / cross_stack.DATASET)
    assert read.keys() == expected.keys() - {"policy_raw"}
    for key, array in read.items():
        assert array.dtype == expected[key].dtype and np.array_equal(array, expected[key]), key
    for position, (frames, actions, rewards) in enumerate(cross_stack.episodes()):
        np.testing.assert_array_equal(read[f"actions_{position}"][: len(actions)], actions)
        np.testing.assert_array_equal(read[f"reward_{position}"], rewards)
        assert read[f"frames_{position}"].shape == frames.shape  # H.264 is lossy: shapes, and closeness
        assert np.abs(read[f"frames_{position}"].astype(int) - frames).mean() < 12
