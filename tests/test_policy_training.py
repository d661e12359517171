"""Training: learns a visual rule, logs to TensorBoard, checkpoints without pickle, resumes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nitrogen_envs import gamepad  # noqa: E402
from nitrogen_policies import NitroGenPolicy  # noqa: E402
from nitrogen_policies.training import TrainConfig, train  # noqa: E402
from nitrogen_policies.training.metrics import action_metrics  # noqa: E402

TINY = {
    "d_model": 64,
    "n_heads": 4,
    "n_layers": 2,
    "image_size": 32,
    "cnn_channels": (16, 32),
    "chunk_size": 4,
    "n_action_steps": 2,
}
LEFT = gamepad.to_flat({"left_stick": (-1.0, 0.0)})
RIGHT_JUMP = gamepad.to_flat({"left_stick": (1.0, 0.0), "buttons": ["south"]})


class BrightnessRule(torch.utils.data.Dataset):
    """Dark frames -> hold left; bright frames -> right + jump. Learnable only by looking at the frame."""

    def __init__(self, n=64, seed=0):
        rng = np.random.default_rng(seed)
        self.bright = rng.random(n) < 0.5
        self.noise = rng.integers(0, 40, size=(n, 32, 32, 3), dtype=np.uint8)

    def __len__(self):
        return len(self.bright)

    def __getitem__(self, i):
        frame = self.noise[i] + (200 if self.bright[i] else 10)
        action = RIGHT_JUMP if self.bright[i] else LEFT
        return {
            "frames": torch.from_numpy(frame.astype(np.uint8)),
            "actions": torch.from_numpy(np.tile(action, (4, 1))),
            "action_mask": torch.ones(4, dtype=torch.bool),
            "game_id": torch.tensor(0),
        }


def config(tmp_path, **kw):
    base = {
        "out": str(tmp_path / "run"),
        "policy_overrides": TINY,
        "steps": 120,
        "batch_size": 16,
        "lr": 3e-3,
        "warmup_steps": 10,
        "num_workers": 0,
        "log_every": 20,
        "save_every": 50,
        "progress": False,
    }
    return TrainConfig(**{**base, **kw})


def test_training_learns_a_visual_rule_and_writes_a_loadable_policy(tmp_path):
    result = train(config(tmp_path), BrightnessRule())
    policy = NitroGenPolicy.from_pretrained(result.out / "final")
    data = BrightnessRule(n=16, seed=1)
    frames = np.stack([data[i]["frames"].numpy() for i in range(16)])
    predicted = policy.predict_action_chunk(frames, generator=torch.Generator().manual_seed(0))
    target = np.stack([data[i]["actions"].numpy() for i in range(16)])
    metrics = action_metrics(predicted, target)
    assert metrics["button_accuracy"] >= 0.95, metrics
    assert metrics["stick_r2"] >= 0.8, metrics
    assert list((result.out / "tb").glob("events.out.tfevents.*"))
    assert 0.0 <= result.data_wait_fraction <= 1.0


def test_checkpoints_hold_safetensors_and_a_weights_only_training_state(tmp_path):
    train(config(tmp_path, steps=60), BrightnessRule())
    folder = tmp_path / "run" / "checkpoints" / "step_000050"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "training_state.pt"]
    state = torch.load(folder / "training_state.pt", weights_only=True)
    assert int(state["step"]) == 50


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, caplog):
    train(config(tmp_path, steps=50, save_every=25), BrightnessRule())
    with caplog.at_level("INFO"):
        result = train(config(tmp_path, steps=80, save_every=25), BrightnessRule())
    assert "resumed from" in caplog.text and "step 50" in caplog.text
    assert result.steps == 80
    assert (tmp_path / "run" / "checkpoints" / "step_000080").is_dir()


def test_head_only_fine_tuning_keeps_the_encoder_fixed(tmp_path):
    base = NitroGenPolicy.from_config("nitrogen-s", **TINY)
    base.save_pretrained(tmp_path / "base")
    before = {k: v.clone() for k, v in base.model.encoder.state_dict().items()}
    result = train(config(tmp_path, steps=20, init_from=str(tmp_path / "base"), head_only=True), BrightnessRule())
    tuned = NitroGenPolicy.from_pretrained(result.out / "final")
    for key, value in tuned.model.encoder.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_bad_training_configs_are_rejected():
    with pytest.raises(ValueError, match="also pass init_from"):
        TrainConfig(head_only=True)
    with pytest.raises(ValueError, match="steps and batch_size must be >= 1"):
        TrainConfig(steps=0)
