"""`torchrun` data-parallel training works on CPUs (gloo), so the multi-GPU path is exercised in CI."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from nitrogen_policies.training import TrainConfig, train

    class Samples(torch.utils.data.Dataset):
        def __len__(self):
            return 32
        def __getitem__(self, i):
            return {"frames": torch.full((32, 32, 3), 8 * i, dtype=torch.uint8),
                    "actions": torch.zeros(4, 21), "action_mask": torch.ones(4, dtype=torch.bool),
                    "game_id": torch.tensor(0)}

    tiny = {"d_model": 32, "n_heads": 4, "n_layers": 1, "image_size": 32, "cnn_channels": [8, 16],
            "chunk_size": 4, "n_action_steps": 2}
    result = train(TrainConfig(out=sys.argv[1], policy_overrides=tiny, steps=4, batch_size=4, num_workers=0,
                               warmup_steps=1, save_every=2, progress=False), Samples())
    print("RANK_DONE", torch.distributed.is_initialized(), result.steps)
    """
)


@pytest.mark.slow  # torchrun with two processes: 16 s in a full run on 2 shared cores
def test_torchrun_two_processes_train_and_rank_zero_saves(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("RANK_DONE") == 2
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step_000004" / "training_state.json").is_file()
