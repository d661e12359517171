"""The factorized discrete action head: sticks as categoricals over bins, each trigger and button a Bernoulli.

Why it exists beside flow matching (docs/results.md, sections 5-6): on the Doom scripted bot's demonstrations,
nitrogen-s's own picture encoder under this head reads held-out labels at 0.92 / 0.75 and plays DefendCenter
at the bot's level (11.7 kills against 11.85), while the same encoder, frames and action space trained by flow
matching stays nearly blind to the frame (1.65 kills). A head that predicts one value per stick axis by squared
error is no alternative: it averages a turn left (-1) and a turn right (+1) into "no turn". Binning the sticks
keeps the multimodality flow matching exists for, with a cross-entropy loss that the picture pathway learns from.

Sticks come in two layouts (``NitroGenConfig.joint_sticks``):

* per axis (the default): each of the four stick axes a categorical over ``bins`` values. Its likeliest action
  is each axis's likeliest bin, which cannot express "one of four directions": a policy unsure whether to go
  left, right, up or down puts most of each axis's mass on its centre and plays "nothing" (docs/results.md
  section 14: 319 of Chaser's 600 training frames, where its own probability of "nothing" was 0.28).
* joint: each stick's (x, y) one categorical over ``bins * bins`` cells, so the likeliest cell is a direction.

Layout of the logits of one action (width :func:`logit_width`): the stick logits (per axis: ``4 * bins``,
axis-major, the bins of ``left_x`` then ``left_y``, ...; joint: ``2 * bins**2``, left stick then right, cell
``x_bin * bins + y_bin``), then one logit per trigger and button, in the flat gamepad order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from nitrogen_envs import gamepad

N_STICK_AXES = gamepad.STICK_SLICE.stop - gamepad.STICK_SLICE.start
N_PRESSES = gamepad.FLAT_SIZE - N_STICK_AXES
"""Triggers and buttons: the flat vector after the four stick axes, each scored as a Bernoulli."""


def stick_groups(joint: bool) -> int:
    """Categoricals the sticks are split into: one per axis, or one per stick (its two axes together)."""
    return N_STICK_AXES // 2 if joint else N_STICK_AXES


def stick_classes(bins: int, joint: bool) -> int:
    """Values one stick categorical chooses among: ``bins`` per axis, ``bins**2`` cells per stick."""
    return bins * bins if joint else bins


def logit_width(bins: int, joint: bool = False) -> int:
    """Logits per action: the sticks' categoricals, then one per trigger and button."""
    return stick_groups(joint) * stick_classes(bins, joint) + N_PRESSES


def bin_values(bins: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The stick values the bins stand for, evenly spaced over [-1, 1]; an odd count keeps 0 (centred) exact."""
    steps = torch.arange(bins, device=device) * 2 - (bins - 1)  # integers, so the middle one is exactly 0
    return steps.float() / (bins - 1)  # (torch.linspace leaves the middle bin at -3e-08)


def _split(logits: torch.Tensor, bins: int, joint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., width) -> stick logits (..., groups, classes) and press logits (..., 17)."""
    groups, classes = stick_groups(joint), stick_classes(bins, joint)
    sticks = logits[..., : groups * classes].unflatten(-1, (groups, classes))
    return sticks, logits[..., groups * classes :]


def stick_targets(sticks: torch.Tensor, bins: int, joint: bool) -> torch.Tensor:
    """Stick values (..., 4) -> the class of each categorical (..., groups): each axis's nearest bin, or the cell."""
    nearest = (sticks[..., None] - bin_values(bins, sticks.device)).abs().argmin(dim=-1)  # (..., 4)
    if not joint:
        return nearest
    return nearest[..., 0::2] * bins + nearest[..., 1::2]  # (x, y) of each stick -> x_bin * bins + y_bin


def stick_values(classes: torch.Tensor, bins: int, joint: bool) -> torch.Tensor:
    """The inverse of :func:`stick_targets`: classes (..., groups) -> stick values (..., 4)."""
    values = bin_values(bins, classes.device)
    if not joint:
        return values[classes]
    axes = torch.stack([classes // bins, classes % bins], dim=-1)  # (..., 2 sticks, (x, y))
    return values[axes.flatten(-2)]


def discrete_loss(
    logits: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor, bins: int, joint: bool = False
) -> torch.Tensor:
    """Cross-entropy on each stick categorical's nearest class plus binary cross-entropy on each press.

    Args:
        logits: (B, T, width) from the model.
        actions: (B, T, 21) flat gamepad targets; analog triggers are soft targets of the Bernoulli.
        mask: (B, T) bool, False past the episode end (those steps add nothing).
        bins: stick bins per axis.
        joint: sticks laid out one categorical per stick (see the module docstring).
    """
    stick_logits, press_logits = _split(logits.float(), bins, joint)
    targets = stick_targets(actions[..., gamepad.STICK_SLICE], bins, joint)  # (B, T, groups)
    stick_loss = F.cross_entropy(stick_logits.flatten(0, -2), targets.flatten(), reduction="none").view(targets.shape)
    press_target = actions[..., N_STICK_AXES:].clamp(0.0, 1.0)
    press_loss = F.binary_cross_entropy_with_logits(press_logits, press_target, reduction="none")
    weights = mask.float()
    per_step = stick_loss.sum(-1) + press_loss.sum(-1)  # summed over the action's fields, its log-likelihood
    return (per_step * weights).sum() / (weights.sum() * gamepad.FLAT_SIZE).clamp_min(1.0)


def decode_logits(
    logits: torch.Tensor,
    bins: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    joint: bool = False,
) -> torch.Tensor:
    """Logits (..., width) -> raw flat actions (..., 21) for :func:`processor_nitrogen.decode_actions`.

    ``temperature`` 0 plays the most likely action: each stick categorical's likeliest class, each button
    pressed when its probability is at least 0.5, each trigger at its probability (its expected travel). Above 0
    it samples: classes from the softmax of ``logits / temperature``, presses from
    Bernoulli(sigmoid(logit / temperature)), with ``generator`` for repeatable draws.
    """
    stick_logits, press_logits = _split(logits.float(), bins, joint)
    if temperature <= 0.0:
        classes = stick_logits.argmax(dim=-1)
        presses = torch.sigmoid(press_logits)
    else:
        probabilities = torch.softmax(stick_logits / temperature, dim=-1)
        drawn = torch.multinomial(probabilities.flatten(0, -2).cpu(), 1, generator=generator)
        classes = drawn.view(stick_logits.shape[:-1]).to(logits.device)
        uniform = torch.rand(press_logits.shape, generator=generator).to(logits.device)
        presses = (uniform < torch.sigmoid(press_logits / temperature)).float()
    return torch.cat([stick_values(classes, bins, joint), presses], dim=-1)
