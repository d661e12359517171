"""The factorized discrete action head: each stick axis a categorical over bins, each trigger and button a Bernoulli.

Why it exists beside flow matching (docs/results.md, sections 5-6): on the Doom scripted bot's demonstrations,
nitrogen-s's own picture encoder under this head reads held-out labels at 0.92 / 0.75 and plays DefendCenter
at the bot's level (11.7 kills against 11.85), while the same encoder, frames and action space trained by flow
matching stays nearly blind to the frame (1.65 kills). A head that predicts one value per stick axis by squared
error is no alternative: it averages a turn left (-1) and a turn right (+1) into "no turn". Binning the sticks
keeps the multimodality flow matching exists for, with a cross-entropy loss that the picture pathway learns from.

Layout of the logits of one action (width :func:`logit_width`): ``4 * bins`` stick logits (axis-major: the
bins of ``left_x``, then ``left_y``, ...), then one logit per trigger and button, in the flat gamepad order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from nitrogen_envs import gamepad

N_STICK_AXES = gamepad.STICK_SLICE.stop - gamepad.STICK_SLICE.start
N_PRESSES = gamepad.FLAT_SIZE - N_STICK_AXES
"""Triggers and buttons: the flat vector after the four stick axes, each scored as a Bernoulli."""


def logit_width(bins: int) -> int:
    """Logits per action: ``bins`` per stick axis, one per trigger and button."""
    return N_STICK_AXES * bins + N_PRESSES


def bin_values(bins: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The stick values the bins stand for, evenly spaced over [-1, 1]; an odd count keeps 0 (centred) exact."""
    steps = torch.arange(bins, device=device) * 2 - (bins - 1)  # integers, so the middle one is exactly 0
    return steps.float() / (bins - 1)  # (torch.linspace leaves the middle bin at -3e-08)


def _split(logits: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., width) -> stick logits (..., 4, bins) and press logits (..., 17)."""
    sticks = logits[..., : N_STICK_AXES * bins].unflatten(-1, (N_STICK_AXES, bins))
    return sticks, logits[..., N_STICK_AXES * bins :]


def discrete_loss(logits: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor, bins: int) -> torch.Tensor:
    """Cross-entropy on each stick axis's nearest bin plus binary cross-entropy on each trigger and button.

    Args:
        logits: (B, T, width) from the model.
        actions: (B, T, 21) flat gamepad targets; analog triggers are soft targets of the Bernoulli.
        mask: (B, T) bool, False past the episode end (those steps add nothing).
        bins: stick bins.
    """
    stick_logits, press_logits = _split(logits.float(), bins)
    sticks = actions[..., gamepad.STICK_SLICE]
    nearest = (sticks[..., None] - bin_values(bins, logits.device)).abs().argmin(dim=-1)  # (B, T, 4)
    stick_loss = F.cross_entropy(stick_logits.flatten(0, -2), nearest.flatten(), reduction="none").view(nearest.shape)
    press_target = actions[..., N_STICK_AXES:].clamp(0.0, 1.0)
    press_loss = F.binary_cross_entropy_with_logits(press_logits, press_target, reduction="none")
    weights = mask.float()
    per_step = stick_loss.sum(-1) + press_loss.sum(-1)  # summed over the 21 fields, as one action's log-likelihood
    return (per_step * weights).sum() / (weights.sum() * gamepad.FLAT_SIZE).clamp_min(1.0)


def decode_logits(
    logits: torch.Tensor, bins: int, temperature: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Logits (..., width) -> raw flat actions (..., 21) for :func:`processor_nitrogen.decode_actions`.

    ``temperature`` 0 plays the most likely action: each axis's likeliest bin, each button pressed when its
    probability is at least 0.5, each trigger at its probability (its expected travel). Above 0 it samples:
    bins from the softmax of ``logits / temperature``, presses from Bernoulli(sigmoid(logit / temperature)),
    with ``generator`` for repeatable draws.
    """
    stick_logits, press_logits = _split(logits.float(), bins)
    values = bin_values(bins, logits.device)
    if temperature <= 0.0:
        sticks = values[stick_logits.argmax(dim=-1)]
        presses = torch.sigmoid(press_logits)
    else:
        probabilities = torch.softmax(stick_logits / temperature, dim=-1)
        drawn = torch.multinomial(probabilities.flatten(0, -2).cpu(), 1, generator=generator)
        sticks = values[drawn.view(stick_logits.shape[:-1]).to(logits.device)]
        uniform = torch.rand(press_logits.shape, generator=generator).to(logits.device)
        presses = (uniform < torch.sigmoid(press_logits / temperature)).float()
    return torch.cat([sticks, presses], dim=-1)
