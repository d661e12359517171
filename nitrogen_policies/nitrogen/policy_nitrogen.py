"""``NitroGenPolicy``: the user-facing policy — build, load, save, act (SB3's ``predict``), and train loss."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from nitrogen_policies import flow_matching
from nitrogen_policies.errors import CheckpointError, InvalidConfig, PolicyInputError
from nitrogen_policies.hub import (
    CONFIG_NAME,
    DEFAULT_MODEL,
    WEIGHTS_NAME,
    check_tensor_specs,
    load_weights,
    module_tensor_specs,
    read_config_dict,
    read_tensor_specs,
    resolve_checkpoint,
    save_checkpoint,
)
from nitrogen_policies.nitrogen import discrete_head
from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig, config_from_preset
from nitrogen_policies.nitrogen.modeling_nitrogen import NitroGenModel
from nitrogen_policies.nitrogen.processor_nitrogen import decode_actions, frames_to_tensor, random_shift

if TYPE_CHECKING:
    from nitrogen_policies.official.architecture import OfficialNitroGenModel

logger = logging.getLogger(__name__)

AnyModel: TypeAlias = "NitroGenModel | OfficialNitroGenModel"
"""Our network or the mirror of NVIDIA's released one; both have the interface the policy uses."""

MAX_PARAMETERS = 1_000_000_000
"""Largest model ``from_pretrained`` builds unless told otherwise (4 GB of float32; nitrogen-500m is ~0.5B)."""


class NitroGenPolicy(nn.Module):
    """An action-chunk policy: one RGB frame in, a chunk of 16 gamepad actions out.

    The chunk comes from flow matching (``action_head="flow"``, the paper's) or from a factorized discrete
    head (``action_head="discrete"``); see :class:`NitroGenConfig`.

    Example:
        >>> policy = NitroGenPolicy.from_config("nitrogen-s", n_layers=1, d_model=64, n_heads=4)
        >>> action, _ = policy.predict(np.zeros((64, 64, 3), np.uint8))
        >>> action.shape
        (21,)
    """

    def __init__(self, config: NitroGenConfig) -> None:
        super().__init__()
        self.config = config
        self.model: AnyModel = build_model(config)
        self.game: str | None = None
        self._queues: list[deque[np.ndarray]] = []

    # ---- construction and checkpoints ----------------------------------------------------------------
    @classmethod
    def from_config(cls, config: str | NitroGenConfig = "nitrogen-s", **overrides: Any) -> NitroGenPolicy:
        """A freshly initialised policy from a preset name (``nitrogen-s``, ``nitrogen-500m``) or a config."""
        if isinstance(config, str):
            config = config_from_preset(config, **overrides)
        elif overrides:
            config = NitroGenConfig.from_dict({**config.to_dict(), **overrides})
        return cls(config)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
        device: str | torch.device = "cpu",
        revision: str | None = None,
        strict: bool = True,
        max_parameters: int = MAX_PARAMETERS,
    ) -> NitroGenPolicy:
        """Load a bundled name, a local checkpoint folder, or a Hugging Face Hub repo id; returns eval mode.

        Nothing is allocated before the checkpoint is checked: ``config.json`` is type- and range-checked,
        the model is built on the ``meta`` device to count its parameters and list its tensors, and those are
        compared with the safetensors header. Only then is the model built and its weights read. A
        ``vision_checkpoint`` named in the config is not read (the weights file holds the encoder).

        Args:
            name_or_path: see :func:`nitrogen_policies.hub.resolve_checkpoint` for which strings go to the Hub
                (``hf://owner/name`` always does; a path that looks local never does). Default: the shipped
                model, :data:`nitrogen_policies.hub.DEFAULT_MODEL` (bundled, so it loads offline).
                ``"nvidia/NitroGen"`` or a path to its ``ng.pt`` loads NVIDIA's release, converted once into a
                cache folder (:mod:`nitrogen_policies.official`).
            device: where the weights go.
            revision: Hub revision (branch, tag or commit).
            strict: a tensor missing from the file, or one the model lacks, is an error; ``False`` loads the
                tensors that match and logs the rest.
            max_parameters: refuse configs describing a larger model (the default allows ~4 GB of float32).

        Raises:
            CheckpointError: not found, not downloadable, too large, or the weights do not fit the config.
            InvalidConfig: a ``config.json`` field has the wrong type or is out of range.
            SchemaMismatch: the checkpoint uses another gamepad schema version.
        """
        from nitrogen_policies.official.hub import is_official_name, official_checkpoint_folder

        if is_official_name(name_or_path):  # NVIDIA's release: ng.pt, converted once without running its pickle
            folder = official_checkpoint_folder(name_or_path, revision=revision)
        else:
            folder = resolve_checkpoint(name_or_path, revision=revision)
        try:
            config = NitroGenConfig.from_dict({**read_config_dict(folder), "vision_checkpoint": None})
        except InvalidConfig as err:
            raise InvalidConfig(f"{folder / CONFIG_NAME}: {err}") from err
        skeleton = _meta_model(config)  # shapes and a parameter count, no memory
        count = sum(parameter.numel() for parameter in skeleton.parameters())
        if count > max_parameters:
            raise CheckpointError(
                f"{folder / CONFIG_NAME} describes a model of {count:,} parameters, over the limit of "
                f"{max_parameters:,}; pass max_parameters=... if you mean to load it"
            )
        check_tensor_specs(
            module_tensor_specs(skeleton), read_tensor_specs(folder / WEIGHTS_NAME), folder / WEIGHTS_NAME, strict
        )
        policy = cls(config)
        load_weights(policy.model, folder, device=device, strict=strict)
        return policy.to(device).eval()

    def save_pretrained(self, folder: str | os.PathLike[str], dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (never pickle) atomically into ``folder``.

        Args:
            folder: target folder.
            dtype: store floating-point weights in this dtype (``torch.float16`` halves the file for
                distribution; loading casts back to the model's dtype). ``None`` keeps them as they are.
        """
        return save_checkpoint(self.model, self.config.to_dict(), folder, dtype=dtype)

    # ---- acting --------------------------------------------------------------------------------------
    def set_game(self, game: str | None) -> None:
        """Condition on a known game (its embedding); ``None`` or an unseen game plays zero-shot."""
        self.game = game

    def reset(self) -> None:
        """Forget queued actions (call at episode start)."""
        self._queues = []

    @torch.inference_mode()
    def predict_action_chunk(
        self,
        frames: np.ndarray | torch.Tensor,
        game: str | None = None,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
        use_cache: bool = True,
    ) -> np.ndarray:
        """Sample a chunk of actions for each frame.

        Args:
            frames: (B, H, W, 3) or (H, W, 3) uint8 RGB, any size.
            game: game name for the game embedding (default: :meth:`set_game`'s, else unknown).
            generator: makes the sampled noise, hence the actions, repeatable.
            num_steps: Euler steps K (default ``config.num_inference_steps``).
            use_cache: reuse encoder output and cross-attention K/V across steps (same result, faster).

        Returns:
            (B, chunk_size, 21) float32 valid gamepad actions (buttons exactly 0/1), or (chunk_size, 21).
        """
        raw = self.sample_raw(frames, game=game, generator=generator, num_steps=num_steps, use_cache=use_cache)
        single = _is_single(frames)
        actions = decode_actions(raw)
        return actions[0] if single else actions

    @torch.inference_mode()
    def sample_raw(
        self,
        frames: np.ndarray | torch.Tensor,
        game: str | None = None,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
        use_cache: bool = True,
        game_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Undecoded head output (B, chunk_size, 21); see :meth:`predict_action_chunk`.

        ``game_ids`` (B,) overrides ``game`` with per-sample vocabulary indices (used by training metrics).
        The discrete head ignores ``num_steps`` and ``use_cache`` (it makes a chunk in one pass) and uses
        ``generator`` only when its ``temperature`` is above 0.
        """
        batch_frames = frames[None] if _is_single(frames) else frames
        device = next(self.parameters()).device
        images = frames_to_tensor(batch_frames, self.config.image_size, device)
        if game_ids is None:
            game_id = self.config.game_id(game if game is not None else self.game)
            game_ids = torch.full((images.shape[0],), game_id, dtype=torch.long, device=device)
        else:
            game_ids = game_ids.to(device)
        if self.config.action_head == "discrete":
            logits = self._guided_logits(images, game_ids)
            return discrete_head.decode_logits(
                logits, self.config.stick_bins, self.config.temperature, generator, self.config.joint_sticks
            )
        noise = flow_matching.sample_noise(
            (images.shape[0], self.config.chunk_size, self.model.flow_dim), generator=generator, device=device
        )
        steps = num_steps or self.config.num_inference_steps
        velocity = self._velocity_field(images, game_ids, steps, use_cache)
        return self.model.to_gamepad(flow_matching.euler_integrate(velocity, noise, steps))

    def _guided_logits(self, images: torch.Tensor, game_ids: torch.Tensor) -> torch.Tensor:
        """The discrete head's logits, blended with the no-game logits as guidance blends velocities."""
        model = self.model
        assert isinstance(model, NitroGenModel)  # the released architecture is flow-only (checked by the config)
        conditional = model.action_logits(model.encode(images, game_ids))
        scale = self.config.guidance_scale
        if scale == 1.0:
            return conditional
        unconditional = model.action_logits(model.encode(images, torch.zeros_like(game_ids)))
        return (1.0 - scale) * unconditional + scale * conditional

    def _velocity_field(
        self, images: torch.Tensor, game_ids: torch.Tensor, steps: int, use_cache: bool
    ) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
        """The velocity ``v(x, t, i)`` that :func:`flow_matching.euler_integrate` follows for these frames.

        Classifier-free guidance (the release's ``cfg_scale``): the unconditional velocity is the same frame
        with no game (vocabulary id 0), blended as ``(1 - s) * v_uncond + s * v_cond``; s = 1 skips it.
        """
        scale = self.config.guidance_scale
        conditional = self._game_velocity(images, game_ids, steps, use_cache)
        if scale == 1.0:
            return conditional
        unconditional = self._game_velocity(images, torch.zeros_like(game_ids), steps, use_cache)

        def guided(x: torch.Tensor, t: torch.Tensor, step: int) -> torch.Tensor:
            return (1.0 - scale) * unconditional(x, t, step) + scale * conditional(x, t, step)

        return guided

    def _game_velocity(
        self, images: torch.Tensor, game_ids: torch.Tensor, steps: int, use_cache: bool
    ) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
        """The model's velocity conditioned on ``game_ids``, with or without the per-chunk cache."""
        model = self.model
        if not use_cache:
            # Recomputes the context every step (what the original release does); kept for the latency
            # benchmark and the cache-equivalence test.
            return lambda x, t, step: model.velocity(x, t, model.encode(images, game_ids))
        cache = model.encode(images, game_ids)
        # The K flow times are known up front, so every step's AdaLN modulations are computed in one batch.
        mods = model.conditioning(flow_matching.step_times(steps, images.shape[0], device=images.device), cache.game)
        return lambda x, t, step: model.velocity_from(x, [mod[step] for mod in mods], cache)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """Stable-Baselines3's ``predict``: next flat gamepad action(s) for (a batch of) frames.

        Actions come from a per-env queue refilled with a new chunk every ``n_action_steps`` calls, so
        ``stable_baselines3.common.evaluation.evaluate_policy`` works unchanged. ``deterministic=True``
        samples the flow from fixed noise (seed 0) instead of fresh noise (and the discrete head, at a
        ``temperature`` above 0, draws from a generator seeded 0: repeatable).

        Returns:
            ((21,) or (B, 21) float32 actions, None)
        """
        if isinstance(observation, tuple):
            raise PolicyInputError(
                "predict() got a tuple: you probably passed the (obs, info) pair from env.reset(); "
                "use `obs, info = env.reset()` and call predict(obs)"
            )
        single = _is_single(observation)
        frames = np.asarray(observation)[None] if single else np.asarray(observation)
        batch = frames.shape[0]
        if len(self._queues) != batch:
            self._queues = [deque() for _ in range(batch)]
        if episode_start is not None:
            for started in np.flatnonzero(np.asarray(episode_start, dtype=bool).reshape(-1)[:batch]):
                self._queues[int(started)].clear()
        need = [i for i, queue in enumerate(self._queues) if not queue]
        if need:
            generator = torch.Generator().manual_seed(0) if deterministic else None
            chunks = self.predict_action_chunk(frames[need], generator=generator)
            for index, chunk in zip(need, chunks, strict=True):
                self._queues[index].extend(chunk[: self.config.n_action_steps])
        actions = np.stack([queue.popleft() for queue in self._queues])
        return (actions[0] if single else actions), None

    # ---- training ------------------------------------------------------------------------------------
    def forward(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a batch: flow matching, or the discrete head's cross-entropies.

        Args:
            batch: ``frames`` (B, H, W, 3) uint8, ``actions`` (B, T, 21) float32, optional ``action_mask``
                (B, T) bool (False past the episode end), optional ``game_id`` (B,) long.
            generator: for noise, flow times and game dropout.

        Returns:
            (loss, dict of floats safe to log).
        """
        device = next(self.parameters()).device
        images = frames_to_tensor(batch["frames"], self.config.image_size, device)
        if self.training:
            images = random_shift(images, self.config.shift_augment, generator)
        actions = self.model.from_gamepad(batch["actions"].to(device).float())  # the flow's own action space
        mask = batch.get("action_mask")
        mask = torch.ones(actions.shape[:2], dtype=torch.bool, device=device) if mask is None else mask.to(device)
        game_ids = batch.get("game_id")
        game_ids = (
            torch.zeros(actions.shape[0], dtype=torch.long, device=device) if game_ids is None else game_ids.to(device)
        )
        if self.training and self.config.game_dropout > 0:
            drop = torch.rand(game_ids.shape, generator=generator, device=device) < self.config.game_dropout
            game_ids = torch.where(drop, torch.zeros_like(game_ids), game_ids)
        if self.config.action_head == "discrete":
            assert isinstance(self.model, NitroGenModel)
            logits = self.model.action_logits(self.model.encode(images, game_ids))[:, : actions.shape[1]]
            loss = discrete_head.discrete_loss(logits, actions, mask, self.config.stick_bins, self.config.joint_sticks)
            return loss, {"loss": float(loss.detach())}
        noise = flow_matching.sample_noise(tuple(actions.shape), generator=generator, device=device)
        t = flow_matching.sample_flow_time(
            actions.shape[0], self.config.flow_alpha, self.config.flow_beta, generator=generator, device=device
        )
        noisy = flow_matching.interpolate(noise, actions, t)
        predicted = self.model.velocity(noisy, t, self.model.encode(images, game_ids))
        error = (predicted - flow_matching.velocity_target(noise, actions)) ** 2
        weights = mask.float()[..., None]
        loss = (error * weights).sum() / (weights.sum() * actions.shape[-1]).clamp_min(1.0)
        return loss, {"loss": float(loss.detach())}


class _SkipInitOnMeta(TorchFunctionMode):
    """Skip in-place initialisers (``normal_``, ``uniform_``, ...) on ``meta`` tensors: they have no values to fill.

    Without it the first ``nn.init.normal_`` on a meta tensor imports torch's compiler stack (sympy, dynamo),
    seconds of start-up for a model that is only measured.
    """

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor")
        if name.endswith("_") and not name.startswith("_") and isinstance(target, torch.Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


def build_model(config: NitroGenConfig) -> AnyModel:
    """Our network, or the mirror of NVIDIA's released one for a config with ``official`` settings."""
    if config.official is not None:
        from nitrogen_policies.official.architecture import OfficialNitroGenModel

        return OfficialNitroGenModel(config)
    return NitroGenModel(config)


def _meta_model(config: NitroGenConfig) -> AnyModel:
    """The model on the ``meta`` device: every tensor's shape and dtype, no memory, no initialisation."""
    with torch.device("meta"), _SkipInitOnMeta():
        return build_model(config)


def _is_single(frames: Any) -> bool:
    shape = frames.shape if hasattr(frames, "shape") else np.asarray(frames).shape
    return len(shape) == 3
