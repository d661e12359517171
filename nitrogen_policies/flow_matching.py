"""Stateless flow-matching pieces shared by every policy: noise, flow-time sampling, targets, Euler steps.

Convention (rectified flow): flow time ``t = 0`` is pure Gaussian noise and ``t = 1`` is data. The path is
linear, ``x_t = (1 - t) * noise + t * actions``, so the velocity to learn is ``actions - noise`` and
sampling integrates ``dx/dt = v(x_t, t)`` from 0 to 1 with K Euler steps.

Every random draw takes an explicit :class:`torch.Generator`, so evaluation is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

_NUMPY_SEED_LIMIT = 2**63 - 1
"""Exclusive bound of the seed drawn for numpy's Beta sampler (the largest int64 ``torch.randint`` accepts)."""


def sample_noise(
    shape: tuple[int, ...], generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Standard normal noise of ``shape`` (float32)."""
    return torch.randn(shape, generator=generator, device=device, dtype=torch.float32)


def sample_flow_time(
    batch: int,
    alpha: float = 1.5,
    beta: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    eps: float = 1e-3,
) -> torch.Tensor:
    """Flow times in [eps, 1 - eps] from Beta(alpha, beta); alpha > beta skews toward the data end (t -> 1).

    Every draw comes from ``generator``, so training noise repeats. ``torch.distributions.Beta`` and
    ``Gamma`` cannot take a generator, and the only torch sampler that can (``torch._standard_gamma``) is
    private, so:

    * Beta(alpha, 1) and Beta(1, beta), which every preset and the release's conversion use, are the
      closed-form inverse CDFs of uniform draws (on ``device``, no copy);
    * any other shape is numpy's Beta sampler seeded by one draw from ``generator``. Measured on a CPU,
      32 times per call: ~0.3 ms for ``torch._standard_gamma``, ~1 ms for this, ~10 ms for the public
      alternative of seeding torch's global RNG inside ``torch.random.fork_rng`` (which also changes
      process-wide state while it runs). The seed is read on the host, a sync a CUDA training step
      already makes when it logs its loss.

    Returns:
        (batch,) float32.
    """
    if alpha <= 0 or beta <= 0:
        raise ValueError(f"Beta parameters must be positive, got alpha={alpha}, beta={beta}")
    uniform = torch.rand((2, batch), generator=generator, device=device).clamp_min(1e-12)
    if beta == 1.0:
        t = uniform[0] ** (1.0 / alpha)  # inverse CDF of Beta(alpha, 1)
    elif alpha == 1.0:
        t = 1.0 - uniform[0] ** (1.0 / beta)  # inverse CDF of Beta(1, beta)
    else:
        seed = int(torch.randint(0, _NUMPY_SEED_LIMIT, (1,), generator=generator, device=device))
        draws = np.random.default_rng(seed).beta(alpha, beta, size=batch)
        t = torch.from_numpy(draws).to(device=device, dtype=torch.float32)
    return t.clamp(eps, 1.0 - eps).float()


def interpolate(noise: torch.Tensor, actions: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Point on the linear path at time ``t`` (broadcast over all but the batch dimension)."""
    t = t.view(-1, *([1] * (actions.dim() - 1)))
    return (1.0 - t) * noise + t * actions


def velocity_target(noise: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The constant velocity of the linear path: ``actions - noise``."""
    return actions - noise


def step_times(steps: int, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Flow times of K Euler steps from 0 to 1, as (K, batch): row i is ``i / K``."""
    return (torch.arange(steps, device=device, dtype=torch.float32) / steps)[:, None].expand(steps, batch)


def euler_integrate(
    velocity: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor], start: torch.Tensor, steps: int
) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t, i)`` from t=0 to t=1 in ``steps`` equal Euler steps.

    The one Euler loop of the package: every sampler (cached or not, guided or not) calls it, so a change
    to the integration happens in one place.

    Args:
        velocity: called with (x, t, i): t is a (batch,) tensor of the current flow time (row i of
            :func:`step_times`) and i the step index, so a caller that precomputed per-step terms for these
            known times (the policy's AdaLN modulations) looks them up instead of recomputing them.
        start: noise at t=0, (B, ...).
        steps: number of Euler steps K (>= 1).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = start
    for index, t in enumerate(step_times(steps, x.shape[0], device=x.device)):
        x = x + (1.0 / steps) * velocity(x, t, index)
    return x
