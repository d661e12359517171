"""NitroGenPolicy with ``action_head="discrete"``: it learns a picture-to-action mapping, keeps both modes of a
two-way choice, saves and loads like the flow head, and refuses bad settings in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures.tiny_policy import tiny_policy

from nitrogen_envs import gamepad
from nitrogen_policies import NitroGenPolicy
from nitrogen_policies.errors import InvalidConfig
from nitrogen_policies.nitrogen import discrete_head
from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig

LEFT_X = gamepad.FLAT_NAMES.index("left_x")
BUTTON_A = gamepad.FLAT_NAMES.index("south")


def discrete_policy(**overrides: object) -> NitroGenPolicy:
    torch.manual_seed(0)
    return NitroGenPolicy.from_config("nitrogen-s", **tiny_policy(action_head="discrete", **overrides))


def square_batch(rng: np.random.Generator, size: int = 32) -> dict[str, torch.Tensor]:
    """Frames with one square anywhere: its colour alone (red or blue) sets left_x (+1 / -1) and one button."""
    frames = np.zeros((size, 32, 32, 3), np.uint8)
    actions = np.zeros((size, 4, gamepad.FLAT_SIZE), np.float32)
    red = rng.random(size) < 0.5
    for index, is_red in enumerate(red):
        row, column = (int(v) for v in rng.integers(2, 24, size=2))
        frames[index, row : row + 6, column : column + 6, 0 if is_red else 2] = 255
        actions[index, :, LEFT_X] = 1.0 if is_red else -1.0
        actions[index, :, BUTTON_A] = float(is_red)
    return {"frames": torch.from_numpy(frames), "actions": torch.from_numpy(actions)}


def train(policy: NitroGenPolicy, batches: int, make_batch, lr: float = 3e-3) -> float:
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr)
    policy.train()
    loss = torch.tensor(0.0)
    for _ in range(batches):
        loss, _ = policy(make_batch())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.eval()
    return float(loss.detach())


def test_discrete_head_learns_which_way_the_picture_says() -> None:
    """The failure it exists to fix: the flow head ignored the frame; this head must read it."""
    policy = discrete_policy()
    rng = np.random.default_rng(0)
    train(policy, 40, lambda: square_batch(rng, 16))
    held_out = square_batch(np.random.default_rng(123), size=64)
    chunk = policy.predict_action_chunk(held_out["frames"].numpy())
    truth = held_out["actions"].numpy()
    assert (chunk[:, :, LEFT_X] == truth[:, :, LEFT_X]).mean() >= 0.95
    assert (chunk[:, :, BUTTON_A] == truth[:, :, BUTTON_A]).mean() >= 0.95


def test_a_two_way_choice_keeps_both_modes_instead_of_their_mean() -> None:
    """Half the labels turn left, half right, on the same frame: play -1 or +1, never the mean 0 (what MSE does)."""
    policy = discrete_policy()
    frames = torch.zeros((16, 32, 32, 3), dtype=torch.uint8)
    actions = torch.zeros((16, 4, gamepad.FLAT_SIZE))
    actions[:8, :, LEFT_X] = -1.0
    actions[8:, :, LEFT_X] = 1.0
    train(policy, 40, lambda: {"frames": frames, "actions": actions})
    with torch.no_grad():
        logits = policy.model.action_logits(
            policy.model.encode(policy_images(policy, frames[:1]), torch.zeros(1, dtype=torch.long))
        )
    stick_logits = logits[0, :, : 4 * 5].view(4, 4, 5)[:, 0]  # left_x's five bins at each chunk step
    probabilities = torch.softmax(stick_logits, dim=-1)
    assert torch.all(probabilities[:, 0] > 0.35) and torch.all(probabilities[:, 4] > 0.35)
    assert torch.all(probabilities[:, 2] < 0.1)
    played = policy.predict_action_chunk(frames[0].numpy())[:, LEFT_X]
    assert set(np.unique(played)) <= {-1.0, 1.0}
    policy.config.temperature = 1.0
    drawn = policy.predict_action_chunk(frames.numpy(), generator=torch.Generator().manual_seed(0))[:, :, LEFT_X]
    assert 0.25 < (drawn == 1.0).mean() < 0.75  # sampling plays both ways


def policy_images(policy: NitroGenPolicy, frames: torch.Tensor) -> torch.Tensor:
    from nitrogen_policies.nitrogen.processor_nitrogen import frames_to_tensor

    return frames_to_tensor(frames, policy.config.image_size)


def test_masked_steps_add_nothing_to_the_loss() -> None:
    logits = torch.randn(2, 4, discrete_head.logit_width(5))
    actions = torch.zeros(2, 4, gamepad.FLAT_SIZE)
    mask = torch.tensor([[True, True, False, False]] * 2)
    changed = actions.clone()
    changed[:, 2:, :] = 1.0
    assert torch.equal(
        discrete_head.discrete_loss(logits, actions, mask, 5), discrete_head.discrete_loss(logits, changed, mask, 5)
    )


def test_decoded_actions_are_valid_and_sampling_repeats_with_a_seed() -> None:
    logits = torch.randn(3, 4, discrete_head.logit_width(7)) * 3
    likeliest = discrete_head.decode_logits(logits, 7)
    allowed = {np.float32(k / 3) for k in range(-3, 4)}  # the seven bins, centred exactly at 0
    assert set(np.unique(likeliest[..., :4].numpy())) <= allowed
    assert 0.0 in set(discrete_head.bin_values(7).tolist())
    presses = likeliest[..., 4:]
    assert torch.all((presses >= 0) & (presses <= 1))
    first = discrete_head.decode_logits(logits, 7, temperature=1.0, generator=torch.Generator().manual_seed(3))
    again = discrete_head.decode_logits(logits, 7, temperature=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert set(np.unique(first[..., 4:].numpy())) <= {0.0, 1.0}


def test_save_and_load_round_trip(tmp_path) -> None:
    policy = discrete_policy(stick_bins=7, temperature=0.5).eval()
    frames = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    policy.save_pretrained(tmp_path / "ckpt")
    loaded = NitroGenPolicy.from_pretrained(tmp_path / "ckpt")
    assert loaded.config.action_head == "discrete" and loaded.config.stick_bins == 7
    generator = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    np.testing.assert_array_equal(
        policy.predict_action_chunk(frames, generator=generator()),
        loaded.predict_action_chunk(frames, generator=generator()),
    )


LEFT_Y = gamepad.FLAT_NAMES.index("left_y")


def four_way_batch() -> dict[str, torch.Tensor]:
    """One blank frame labelled left, right, up and down alike: a chaser unsure which corridor to take."""
    actions = torch.zeros((16, 1, gamepad.FLAT_SIZE))
    for index, (x, y) in enumerate([(-1.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, -1.0)] * 4):
        actions[index, :, LEFT_X], actions[index, :, LEFT_Y] = x, y
    return {"frames": torch.zeros((16, 32, 32, 3), dtype=torch.uint8), "actions": actions}


@pytest.mark.parametrize("joint", [False, True])
def test_a_four_way_choice_plays_a_direction_only_with_joint_sticks(joint: bool) -> None:
    """Per-axis categoricals put each axis's mode at its centre and so play "nothing", which no label says
    (docs/results.md section 14); one categorical per stick plays one of the four labelled directions."""
    policy = discrete_policy(joint_sticks=joint, chunk_size=1, n_action_steps=1)
    batch = four_way_batch()
    train(policy, 60, lambda: batch)
    played = policy.predict_action_chunk(batch["frames"][:1].numpy())[0, 0, [LEFT_X, LEFT_Y]]
    if joint:
        assert tuple(played.tolist()) in {(-1.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, -1.0)}
    else:
        assert tuple(played.tolist()) == (0.0, 0.0)
    policy.config.temperature = 1.0
    drawn = policy.predict_action_chunk(batch["frames"].numpy(), generator=torch.Generator().manual_seed(0))
    moves = {tuple(row) for row in drawn[:, 0, [LEFT_X, LEFT_Y]].tolist()}
    if joint:  # sampling the cells plays the labelled moves, never a diagonal the per-axis product would draw
        assert len(moves) > 1 and moves <= {(-1.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, -1.0)}


def test_joint_stick_cells_round_trip_every_bin_pair() -> None:
    values = discrete_head.bin_values(5)
    grid = torch.cartesian_prod(values, values, values[:1], values[-1:])  # (25, 4): every left-stick cell
    classes = discrete_head.stick_targets(grid, 5, joint=True)
    assert classes[:, 0].tolist() == list(range(25))
    assert torch.equal(discrete_head.stick_values(classes, 5, joint=True), grid)
    assert discrete_head.logit_width(5, joint=True) == 2 * 25 + discrete_head.N_PRESSES


def test_joint_sticks_save_and_load(tmp_path) -> None:
    policy = discrete_policy(joint_sticks=True).eval()
    frames = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    policy.save_pretrained(tmp_path / "ckpt")
    loaded = NitroGenPolicy.from_pretrained(tmp_path / "ckpt")
    assert loaded.config.joint_sticks is True
    np.testing.assert_array_equal(policy.predict_action_chunk(frames), loaded.predict_action_chunk(frames))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"action_head": "diffusion"}, "action_head must be one of"),
        ({"stick_bins": 4}, "stick_bins must be odd"),
        ({"stick_bins": 1}, "stick_bins must be an integer in [3, 255]"),
        ({"temperature": -1.0}, "temperature must be a number in [0, 10]"),
        ({"joint_sticks": True}, "joint_sticks needs action_head 'discrete'"),
        ({"action_head": "discrete", "joint_sticks": "yes"}, "joint_sticks must be true or false"),
    ],
)
def test_bad_discrete_settings_are_one_line_errors(overrides: dict, message: str) -> None:
    with pytest.raises(InvalidConfig, match=message.replace("[", r"\[").replace("]", r"\]")):
        NitroGenConfig(**overrides)
