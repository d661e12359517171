"""Pre- and post-processing around the network: frames in, valid gamepad actions out."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from nitrogen_envs import gamepad
from nitrogen_policies.errors import PolicyInputError


def frames_to_tensor(
    frames: np.ndarray | torch.Tensor, image_size: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(B, H, W, 3) uint8 frames of any size -> (B, 3, S, S) float32 in [-1, 1].

    Raises:
        PolicyInputError: wrong rank, channel count or dtype (the message shows what was received).
    """
    if isinstance(frames, tuple):
        raise PolicyInputError(
            "got a tuple where frames were expected: did you pass the (obs, info) tuple returned by env.reset()? "
            "Use `obs, info = env.reset()` and pass `obs`"
        )
    tensor = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if tensor.dim() != 4 or tensor.shape[-1] != 3:
        raise PolicyInputError(f"expected frames shaped (B, H, W, 3) or (H, W, 3), got shape {tuple(tensor.shape)}")
    if tensor.dtype != torch.uint8:
        raise PolicyInputError(f"expected uint8 RGB frames (0-255), got dtype {tensor.dtype}")
    images = tensor.to(device).permute(0, 3, 1, 2).float()
    if images.shape[-2:] != (image_size, image_size):
        images = F.interpolate(
            images, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
        )
    return images / 127.5 - 1.0


def random_shift(images: torch.Tensor, pixels: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each (B, C, H, W) image by its own random offset of up to ``pixels`` in each direction.

    DrQ's augmentation: pad every side by ``pixels`` with the edge's own values, then crop the original size
    back at an offset drawn uniformly from ``0..2*pixels`` per image and axis. Edge padding keeps the shifted
    border looking like the picture rather than a black frame the policy could learn to read.
    """
    if pixels <= 0:
        return images
    batch, _, height, width = images.shape
    padded = F.pad(images, (pixels, pixels, pixels, pixels), mode="replicate")
    offsets = torch.randint(0, 2 * pixels + 1, (2, batch), generator=generator, device=images.device)
    rows = offsets[0][:, None] + torch.arange(height, device=images.device)  # (B, H)
    cols = offsets[1][:, None] + torch.arange(width, device=images.device)  # (B, W)
    index = torch.arange(batch, device=images.device)[:, None, None, None]
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[index, channels, rows[:, None, :, None], cols[:, None, None, :]]


def decode_actions(raw: torch.Tensor) -> np.ndarray:
    """Network output (..., 21) -> valid flat gamepad actions.

    Sticks are clipped to [-1, 1], triggers to [0, 1], and buttons thresholded at 0.5 to exactly 0 or 1.
    """
    actions = raw.detach().float().cpu().numpy().copy()
    actions[..., gamepad.STICK_SLICE] = np.clip(actions[..., gamepad.STICK_SLICE], -1.0, 1.0)
    actions[..., gamepad.TRIGGER_SLICE] = np.clip(actions[..., gamepad.TRIGGER_SLICE], 0.0, 1.0)
    actions[..., gamepad.BUTTON_SLICE] = (actions[..., gamepad.BUTTON_SLICE] >= gamepad.BUTTON_THRESHOLD).astype(
        np.float32
    )
    return actions.astype(np.float32)
