"""The NitroGen network: image encoder -> context tokens; a DiT action head denoises a 16 x 21 action chunk.

Layout (GR00T-style, as in the paper):

* an image encoder turns one frame into tokens (a small CNN, or a SigLIP ViT built from a config);
* a learned game embedding (index 0 = unknown game) is appended as one more context token;
* each DiT block runs self-attention over the noisy action tokens, cross-attention from them to the
  context tokens, and an MLP, all modulated by adaptive LayerNorm on the flow time (and game).

With ``action_head="discrete"`` the same blocks read learned query tokens (one per action of the chunk, plus
the mean of the picture's tokens) instead of noisy actions, are modulated by the game alone, and output the
logits of :mod:`nitrogen_policies.nitrogen.discrete_head` in one pass: no flow time, no Euler steps.

Inference cost is dominated by per-op overhead at small sizes, so everything that does not depend on
the noisy actions — the encoder and every block's cross-attention keys/values — is computed once per
chunk (:meth:`NitroGenModel.encode`) and reused across the K Euler steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from nitrogen_policies.nitrogen import discrete_head
from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig


class ConvEncoder(nn.Module):
    """Stride-2 conv stages: (B, 3, S, S) in [-1, 1] -> (B, (S / 2**stages)**2, d_model)."""

    def __init__(self, config: NitroGenConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for out in config.cnn_channels:
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.GroupNorm(8, out), nn.SiLU()]
            channels = out
        self.stages = nn.Sequential(*layers)
        self.project = nn.Linear(channels, config.d_model)
        side = config.image_size // 2 ** len(config.cnn_channels)
        self.position = nn.Parameter(torch.zeros(1, side * side, config.d_model))
        nn.init.normal_(self.position, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, N, d_model)."""
        features = self.stages(images).flatten(2).transpose(1, 2)
        return self.project(features) + self.position


def siglip_vision_config(config: NitroGenConfig) -> Any:
    """A ``transformers.SiglipVisionConfig`` of the config's vision sizes (ours and the release's mirror share it)."""
    from nitrogen_policies.import_utils import require_package

    transformers = require_package("transformers")
    return transformers.SiglipVisionConfig(
        hidden_size=config.vision_hidden_size,
        num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads,
        intermediate_size=config.vision_intermediate_size,
        image_size=config.image_size,
        patch_size=config.vision_patch_size,
    )


def siglip_tower(model: Any) -> nn.Module:
    """The vision transformer inside a ``transformers.SiglipVisionModel``, the same module on Transformers 4 and 5.

    Transformers 4 wraps it as ``model.vision_model``; 5 holds its ``embeddings``, ``encoder``,
    ``post_layernorm`` and ``head`` itself. Either way this module's tensor names and its forward
    (``pixel_values`` in, ``last_hidden_state`` out) are the same, so checkpoints keep one set of key names.
    """
    return getattr(model, "vision_model", model)


class SiglipEncoder(nn.Module):
    """A SigLIP vision transformer built from a ``transformers`` config (no download).

    Optionally initialised from a local checkpoint folder; its tokens are projected to ``d_model``.
    """

    def __init__(self, config: NitroGenConfig) -> None:
        super().__init__()
        from nitrogen_policies.import_utils import require_package

        transformers = require_package("transformers")
        vision_config = siglip_vision_config(config)
        if config.vision_checkpoint:
            model = transformers.SiglipVisionModel.from_pretrained(config.vision_checkpoint, local_files_only=True)
        else:
            model = transformers.SiglipVisionModel(vision_config)
        # Checkpoints name these tensors ``encoder.vision.vision_model.*`` (Transformers 4's nesting); the dict
        # keeps that name on Transformers 5 too, so a checkpoint saved on either stack loads on the other.
        self.vision = nn.ModuleDict({"vision_model": siglip_tower(model)})
        self.project = nn.Linear(model.config.hidden_size, config.d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, N, d_model)."""
        return self.project(self.vision["vision_model"](pixel_values=images).last_hidden_state)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of flow times t in [0, 1] (scaled by 1000, as diffusion models do)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


@dataclass
class ContextCache:
    """Everything that does not depend on the noisy actions: reused across the K denoising steps."""

    game: torch.Tensor  # (B, d) game embedding, part of the AdaLN conditioning
    keys: list[torch.Tensor]  # per block: (B, heads, N, head_dim)
    values: list[torch.Tensor]
    pooled: torch.Tensor | None = None  # (B, d) mean of the picture's tokens (the discrete head's queries read it)


class DiTBlock(nn.Module):
    """Self-attention over action tokens, cross-attention to context, MLP; AdaLN-Zero modulation."""

    def __init__(self, d_model: int, n_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.self_out = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-6)
        self.cross_q = nn.Linear(d_model, d_model)
        self.cross_kv = nn.Linear(d_model, 2 * d_model)
        self.cross_out = nn.Linear(d_model, d_model)
        self.norm3 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        hidden = int(d_model * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d_model))
        self.modulation = nn.Linear(d_model, 6 * d_model)
        nn.init.zeros_(self.modulation.weight)  # AdaLN-Zero: each block starts as the identity
        nn.init.zeros_(self.modulation.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.n_heads, width // self.n_heads).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        batch, heads, length, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, length, heads * head_dim)

    def context_kv(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys and values of the context tokens (cacheable)."""
        keys, values = self.cross_kv(context).chunk(2, dim=-1)
        return self._heads(keys), self._heads(values)

    def modulate(self, cond: torch.Tensor) -> torch.Tensor:
        """AdaLN parameters (..., 1, 6d) from the conditioning (..., d); depends on flow time and game only."""
        return self.modulation(F.silu(cond)).unsqueeze(-2)

    def forward(self, x: torch.Tensor, mod: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """X (B, T, d), mod (B, 1, 6d) from :meth:`modulate`, keys/values (B, heads, N, head_dim) -> (B, T, d)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = mod.chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        q, k, v = (self._heads(part) for part in self.qkv(h).chunk(3, dim=-1))
        x = x + gate1 * self.self_out(self._merge(F.scaled_dot_product_attention(q, k, v)))
        q = self._heads(self.cross_q(self.norm2(x)))
        x = x + self.cross_out(self._merge(F.scaled_dot_product_attention(q, keys, values)))
        h = self.norm3(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class NitroGenModel(nn.Module):
    """Encoder + game embedding + DiT action head predicting the flow velocity of an action chunk."""

    def __init__(self, config: NitroGenConfig) -> None:
        super().__init__()
        self.config = config
        self.flow_dim = config.action_dim  # the flow runs in our flat schema (the official mirror's is its own)
        d = config.d_model
        self.encoder = ConvEncoder(config) if config.encoder == "cnn" else SiglipEncoder(config)
        self.game_embedding = nn.Embedding(len(config.game_names), d)
        self.discrete = config.action_head == "discrete"
        # Creation order fixes which random numbers each tensor gets at a seed: the flow model's is unchanged.
        if self.discrete:  # queries: one per action of the chunk, plus the pooled picture (see module docstring)
            self.pooled_in = nn.Linear(d, d)
        else:
            self.action_in = nn.Linear(config.action_dim, d)
        self.action_position = nn.Parameter(torch.zeros(1, config.chunk_size, d))
        nn.init.normal_(self.action_position, std=0.02)
        if not self.discrete:
            self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(DiTBlock(d, config.n_heads, config.mlp_ratio) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(d, 2 * d)
        nn.init.zeros_(self.final_modulation.weight)
        nn.init.zeros_(self.final_modulation.bias)
        width = (
            discrete_head.logit_width(config.stick_bins, config.joint_sticks) if self.discrete else config.action_dim
        )
        self.action_out = nn.Linear(d, width)

    def encode(self, images: torch.Tensor, game_ids: torch.Tensor) -> ContextCache:
        """Run the encoder and every block's cross-attention K/V once.

        Args:
            images: (B, 3, S, S) float in [-1, 1].
            game_ids: (B,) long, 0 = unknown game.
        """
        game = self.game_embedding(game_ids)
        tokens = self.encoder(images)
        context = torch.cat([tokens, game[:, None]], dim=1)
        keys, values = zip(*(block.context_kv(context) for block in self.blocks), strict=True)  # type: ignore[operator]
        return ContextCache(game=game, keys=list(keys), values=list(values), pooled=tokens.mean(dim=1))

    def conditioning(self, t: torch.Tensor, game: torch.Tensor) -> list[torch.Tensor]:
        """Every AdaLN modulation for flow times ``t`` (..., B) and game embeddings (B, d).

        Returns one tensor per block plus one for the output layer, each (..., B, 1, width). Sampling
        calls this once for all K step times, since flow times are known in advance.
        """
        cond = self.time_mlp(timestep_embedding(t.reshape(-1), self.config.d_model)).view(*t.shape, -1) + game
        mods = [block.modulate(cond) for block in self.blocks]  # type: ignore[operator]
        return [*mods, self.final_modulation(F.silu(cond)).unsqueeze(-2)]

    def velocity_from(self, noisy_actions: torch.Tensor, mods: list[torch.Tensor], cache: ContextCache) -> torch.Tensor:
        """Flow velocity (B, T, 21) given precomputed modulations (see :meth:`conditioning`)."""
        x = self.action_in(noisy_actions) + self.action_position[:, : noisy_actions.shape[1]]
        for block, mod, keys, values in zip(
            self.blocks, mods, cache.keys, cache.values, strict=False
        ):  # mods[-1] is the output layer's
            x = block(x, mod, keys, values)  # type: ignore[operator]
        shift, scale = mods[-1].chunk(2, dim=-1)
        return self.action_out(self.final_norm(x) * (1 + scale) + shift)

    def velocity(self, noisy_actions: torch.Tensor, t: torch.Tensor, cache: ContextCache) -> torch.Tensor:
        """Predicted flow velocity (B, T, 21) for noisy actions (B, T, 21) at flow time t (B,)."""
        return self.velocity_from(noisy_actions, self.conditioning(t, cache.game), cache)

    def action_logits(self, cache: ContextCache) -> torch.Tensor:
        """The discrete head's logits (B, chunk_size, width) for encoded frames (see :mod:`discrete_head`)."""
        if not self.discrete or cache.pooled is None:
            raise RuntimeError("action_logits needs a model built with action_head='discrete'")
        x = self.action_position + self.pooled_in(cache.pooled)[:, None]
        mods = [block.modulate(cache.game) for block in self.blocks]  # type: ignore[operator]
        for block, mod, keys, values in zip(self.blocks, mods, cache.keys, cache.values, strict=True):
            x = block(x, mod, keys, values)  # type: ignore[operator]
        shift, scale = self.final_modulation(F.silu(cache.game)).unsqueeze(-2).chunk(2, dim=-1)
        return self.action_out(self.final_norm(x) * (1 + scale) + shift)

    def to_gamepad(self, actions: torch.Tensor) -> torch.Tensor:
        """Flow output -> our raw flat actions: the identity here (see the official mirror for a real mapping)."""
        return actions

    def from_gamepad(self, actions: torch.Tensor) -> torch.Tensor:
        """Our flat actions -> flow targets: the identity here."""
        return actions

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
