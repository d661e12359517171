"""A mirror of NVIDIA's released NitroGen network, with the same parameter names, in our policy's interface.

Read from the release's code (``nitrogen/flow_matching_transformer/{nitrogen,modules}.py``, ``mm_tokenizers.py``;
a GR00T-style flow-matching head over diffusers blocks), written here without diffusers:

* ``vision_encoder``: a SigLIP vision transformer (``transformers``, built from a config; nothing downloaded);
  one frame -> ``visual_tokens_per_frame`` tokens of the SigLIP width.
* the context: zero "pad" tokens up to ``vl_sequence_length`` (left), an optional game-embedding token, then the
  image tokens, all through ``vl_self_attention_model`` (LayerNorm self-attention blocks). The release does not
  mask the pad tokens, so they are kept: they change its output.
* ``action_encoder``: per-embodiment linears over the noisy actions and a sinusoidal code of the flow-time
  bucket; ``position_embedding`` optionally added.
* ``model``: the DiT. Each block: AdaLN on the flow-time embedding (scale then shift), an optional sinusoidal
  position table, attention (cross-attention to the context, or self-attention in interleaved odd blocks), a
  LayerNorm and a GELU feed-forward; then an AdaLN-modulated output projection.
* ``action_decoder``: a per-embodiment two-layer MLP to the release's 25 action values (see :mod:`.schema`).

What differs from the release is only how it is run: the context (SigLIP, the context self-attention and every
block's cross-attention keys/values) is computed once per chunk instead of once per Euler step, and every
flow-time modulation once per chunk; the arithmetic per step is the same.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from nitrogen_envs import gamepad
from nitrogen_policies.nitrogen.configuration_nitrogen import NitroGenConfig
from nitrogen_policies.nitrogen.modeling_nitrogen import ContextCache
from nitrogen_policies.official import schema
from nitrogen_policies.official.spec import OfficialSpec

TIME_CHANNELS = 256
"""Width of the DiT's sinusoidal flow-time code before its MLP (diffusers ``Timesteps(256, ...)`` in the release)."""
ADA_NORM_EPS = 1e-5
VL_NORM_EPS = 1e-5
OUT_NORM_EPS = 1e-6
BUCKET_SNAP = 1e-3
"""Flow times within this many buckets below an integer count as that integer (float32 ``i / K`` times)."""


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """Diffusers' ``SinusoidalPositionalEmbedding`` table (1, positions, dim): sin on even, cos on odd columns."""
    position = torch.arange(positions, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(1, positions, dim)
    table[0, :, 0::2] = torch.sin(position * frequency)
    table[0, :, 1::2] = torch.cos(position * frequency)
    return table


def time_code(buckets: torch.Tensor) -> torch.Tensor:
    """The DiT's flow-time code (..., 256): cos then sin, frequencies ``10000 ** (-i / 127)``."""
    half = TIME_CHANNELS // 2
    frequency = torch.exp(
        -math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=buckets.device) / (half - 1)
    )
    angles = buckets.float()[..., None] * frequency
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def action_time_code(buckets: torch.Tensor, dim: int) -> torch.Tensor:
    """The action encoder's flow-time code (..., dim): sin then cos, frequencies ``10000 ** (-i / (dim / 2))``."""
    half = dim // 2
    frequency = torch.exp(-torch.arange(half, dtype=torch.float32, device=buckets.device) * (math.log(10_000.0) / half))
    angles = buckets.float()[..., None] * frequency
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def flow_buckets(t: torch.Tensor, buckets: int) -> torch.Tensor:
    """``int(t * buckets)`` as the release computes it, robust to float32 step times like 0.7 = 0.69999999."""
    scaled = t.double() * buckets
    nearest = torch.round(scaled)
    return torch.where((nearest - scaled).abs() < BUCKET_SNAP, nearest, torch.floor(scaled)).float()


class Attention(nn.Module):
    """diffusers' ``Attention`` without its options: q/k/v projections, scaled dot product, ``to_out.0``."""

    def __init__(self, dim: int, heads: int, head_dim: int, bias: bool, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        inner = heads * head_dim
        self.to_q = nn.Linear(dim, inner, bias=bias)
        self.to_k = nn.Linear(context_dim or dim, inner, bias=bias)
        self.to_v = nn.Linear(context_dim or dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, inner) -> (B, heads, L, head_dim)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, -1).transpose(1, 2)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``context`` (cacheable when it does not change across steps)."""
        return self.split(self.to_k(context)), self.split(self.to_v(context))

    def forward(
        self, x: torch.Tensor, keys: torch.Tensor | None = None, values: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attend from ``x`` to cached ``keys``/``values``, or to ``x`` itself when none are given."""
        if keys is None or values is None:
            keys, values = self.keys_values(x)
        out = F.scaled_dot_product_attention(self.split(self.to_q(x)), keys, values)
        batch, heads, length, head_dim = out.shape
        return self.to_out[0](out.transpose(1, 2).reshape(batch, length, heads * head_dim))


class GeluProjection(nn.Module):
    """diffusers' ``GELU`` activation module: a linear ``proj`` then GELU (tanh approximation or exact)."""

    def __init__(self, dim: int, inner: int, approximate: bool) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner)
        self.approximate = "tanh" if approximate else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """GELU(proj(x))."""
        return F.gelu(self.proj(x), approximate=self.approximate)


class FeedForward(nn.Module):
    """diffusers' ``FeedForward``: ``net.0`` (projection + GELU), ``net.1`` dropout (none here), ``net.2`` linear."""

    def __init__(self, dim: int, mult: float, activation: str) -> None:
        super().__init__()
        inner = int(dim * mult)
        self.net = nn.ModuleList(
            [GeluProjection(dim, inner, activation == "gelu-approximate"), nn.Identity(), nn.Linear(inner, dim)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feed-forward."""
        return self.net[2](self.net[0](x))


class AdaLayerNorm(nn.Module):
    """LayerNorm modulated by the flow-time embedding: ``linear(silu(temb))`` splits into scale, then shift."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim, eps=ADA_NORM_EPS, elementwise_affine=False)

    def modulation(self, temb: torch.Tensor) -> torch.Tensor:
        """(..., 2 dim) scale and shift for ``temb`` (...,  dim); depends on the flow time only."""
        return self.linear(F.silu(temb))

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """Norm of x (B, T, dim) scaled and shifted by ``modulation`` (B, 2 dim)."""
        scale, shift = modulation.chunk(2, dim=-1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


class PositionTable(nn.Module):
    """diffusers' ``SinusoidalPositionalEmbedding``: its table is a saved buffer ``pe``."""

    pe: torch.Tensor

    def __init__(self, positions: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoid_table(positions, dim))


class TransformerBlock(nn.Module):
    """The release's ``BasicTransformerBlock``: norm1, optional position table, attn1, norm3, feed-forward."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        *,
        bias: bool,
        activation: str,
        mult: float,
        ada_norm: bool,
        norm_affine: bool,
        norm_eps: float,
        positions: int | None,
        context_dim: int | None,
    ) -> None:
        super().__init__()
        self.ada_norm = ada_norm
        self.norm1: nn.Module = (
            AdaLayerNorm(dim) if ada_norm else nn.LayerNorm(dim, eps=norm_eps, elementwise_affine=norm_affine)
        )
        if positions is not None:
            self.pos_embed = PositionTable(positions, dim)
        self.has_positions = positions is not None
        self.attn1 = Attention(dim, heads, head_dim, bias, context_dim)
        self.norm3 = nn.LayerNorm(dim, eps=norm_eps, elementwise_affine=norm_affine)
        self.ff = FeedForward(dim, mult, activation)

    def forward(
        self,
        x: torch.Tensor,
        modulation: torch.Tensor | None = None,
        keys: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One block; ``modulation`` from :meth:`AdaLayerNorm.modulation` when ``ada_norm``."""
        if self.ada_norm:
            assert modulation is not None, "an AdaLN block needs the flow-time modulation"
            h = self.norm1(x, modulation)
        else:
            h = self.norm1(x)
        if self.has_positions:
            h = h + self.pos_embed.pe[:, : h.shape[1]]
        x = x + self.attn1(h, keys, values)
        return x + self.ff(self.norm3(x))


class TimestepEmbedder(nn.Module):
    """diffusers' ``TimestepEmbedding``: ``linear_1``, SiLU, ``linear_2``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(TIME_CHANNELS, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """Embedding of the time code."""
        return self.linear_2(F.silu(self.linear_1(code)))


class TimestepEncoder(nn.Module):
    """The release's ``TimestepEncoder``: only its ``timestep_embedder`` has weights."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)


class ContextTransformer(nn.Module):
    """The release's ``SelfAttentionTransformer``: LayerNorm self-attention blocks over the context tokens."""

    def __init__(self, blocks: list[TransformerBlock]) -> None:
        super().__init__()
        self.transformer_blocks = nn.ModuleList(blocks)

    def blocks(self) -> list[TransformerBlock]:
        """The blocks, typed."""
        return list(self.transformer_blocks)  # type: ignore[arg-type]


class DiT(nn.Module):
    """The release's ``DiT``: ``timestep_encoder``, ``transformer_blocks``, ``norm_out``, ``proj_out_1/2``."""

    def __init__(self, config: NitroGenConfig, spec: OfficialSpec) -> None:
        super().__init__()
        dim = config.d_model
        self.interleave = spec.dit_interleave_self_attention
        self.timestep_encoder = TimestepEncoder(dim)
        self.transformer_blocks = nn.ModuleList(
            TransformerBlock(
                dim,
                config.n_heads,
                dim // config.n_heads,
                bias=spec.dit_attention_bias,
                activation=spec.dit_activation,
                mult=config.mlp_ratio,
                ada_norm=spec.dit_norm_type == "ada_norm",
                norm_affine=spec.dit_norm_affine,
                norm_eps=spec.dit_norm_eps,
                positions=spec.dit_max_positions if spec.dit_positional else None,
                context_dim=None if self.self_attends(index) else spec.dit_context_dim,
            )
            for index in range(config.n_layers)
        )
        self.norm_out = nn.LayerNorm(dim, eps=OUT_NORM_EPS, elementwise_affine=False)
        self.proj_out_1 = nn.Linear(dim, 2 * dim)
        self.proj_out_2 = nn.Linear(dim, dim)

    def blocks(self) -> list[TransformerBlock]:
        """The blocks, typed."""
        return list(self.transformer_blocks)  # type: ignore[arg-type]

    def self_attends(self, index: int) -> bool:
        """Whether block ``index`` attends to the action tokens instead of the context."""
        return self.interleave and index % 2 == 1


class CategoryLinear(nn.Module):
    """The release's ``CategorySpecificLinear``: one weight ``W`` (in, out) and bias ``b`` per embodiment."""

    def __init__(self, categories: int, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.W = nn.Parameter(0.02 * torch.randn(categories, dim_in, dim_out))
        self.b = nn.Parameter(torch.zeros(categories, dim_out))

    def forward(self, x: torch.Tensor, category: int) -> torch.Tensor:
        """X (B, T, in) @ W[category] + b[category]."""
        return x @ self.W[category] + self.b[category]


class ActionEncoder(nn.Module):
    """``action_encoder``: W1 on the actions, concat the time code, W2, swish, W3."""

    def __init__(self, categories: int, action_dim: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.W1 = CategoryLinear(categories, action_dim, dim)
        self.W2 = CategoryLinear(categories, 2 * dim, dim)
        self.W3 = CategoryLinear(categories, dim, dim)

    def forward(self, actions: torch.Tensor, buckets: torch.Tensor, category: int) -> torch.Tensor:
        """Actions (B, T, action_dim), flow-time buckets (B,) -> (B, T, dim)."""
        embedded = self.W1(actions, category)
        code = action_time_code(buckets, self.dim).to(embedded.dtype)[:, None].expand(-1, actions.shape[1], -1)
        return self.W3(F.silu(self.W2(torch.cat([embedded, code], dim=-1), category)), category)


class ActionDecoder(nn.Module):
    """``action_decoder``: ``layer1``, ReLU, ``layer2`` (per embodiment)."""

    def __init__(self, categories: int, dim: int, action_dim: int) -> None:
        super().__init__()
        self.layer1 = CategoryLinear(categories, dim, dim)
        self.layer2 = CategoryLinear(categories, dim, action_dim)

    def forward(self, x: torch.Tensor, category: int) -> torch.Tensor:
        """(B, T, dim) -> (B, T, action_dim)."""
        return self.layer2(F.relu(self.layer1(x, category)), category)


class OfficialNitroGenModel(nn.Module):
    """The released network under the release's parameter names, with :class:`NitroGenModel`'s interface."""

    _button_index: torch.Tensor
    _stick_index: torch.Tensor

    def __init__(self, config: NitroGenConfig) -> None:
        super().__init__()
        if config.official is None:
            raise ValueError("OfficialNitroGenModel needs a config with official settings (a nitrogen-official one)")
        spec = config.official
        self.config = config
        self.spec = spec
        self.flow_dim = spec.action_dim
        self.vision_encoder = _siglip(config)
        width = config.vision_hidden_size
        self.vl_self_attention_model = ContextTransformer(
            [
                TransformerBlock(
                    width,
                    spec.vl_heads,
                    spec.vl_head_dim,
                    bias=spec.vl_attention_bias,
                    activation=spec.vl_activation,
                    mult=config.mlp_ratio,
                    ada_norm=False,
                    norm_affine=True,
                    norm_eps=VL_NORM_EPS,
                    positions=spec.vl_max_positions if spec.vl_positional else None,
                    context_dim=None,
                )
                for _ in range(spec.vl_layers)
            ]
        )
        self.model = DiT(config, spec)
        self.action_encoder = ActionEncoder(spec.num_embodiments, spec.action_dim, config.d_model)
        self.action_decoder = ActionDecoder(spec.num_embodiments, config.d_model, spec.action_dim)
        if spec.add_pos_embed:
            self.position_embedding = nn.Embedding(spec.max_seq_len, config.d_model)
        if spec.game_token:
            self.game_embedding = nn.Embedding(len(config.game_names), width, padding_idx=0)
        buttons, sticks = schema.layout(spec.old_layout)
        self.register_buffer("_button_index", torch.arange(spec.action_dim)[buttons], persistent=False)
        self.register_buffer("_stick_index", torch.arange(spec.action_dim)[sticks], persistent=False)

    @property
    def encoder(self) -> nn.Module:
        """The image encoder (what head-only fine-tuning freezes)."""
        return self.vision_encoder

    # ---- context, computed once per chunk ------------------------------------------------------------
    def context_tokens(self, images: torch.Tensor, game_ids: torch.Tensor) -> torch.Tensor:
        """The context after its self-attention blocks (B, vl_sequence_length, width), as the release builds it."""
        spec = self.spec
        vision = self.vision_encoder(pixel_values=images).last_hidden_state
        parts = [vision]
        if spec.game_token:
            parts.insert(0, self.game_embedding(game_ids)[:, None].to(vision.dtype))
        tokens = torch.cat(parts, dim=1)
        pad = spec.vl_sequence_length - tokens.shape[1]
        if pad < 0:
            raise ValueError(f"{tokens.shape[1]} context tokens exceed vl_sequence_length {spec.vl_sequence_length}")
        tokens = torch.cat([tokens.new_zeros(tokens.shape[0], pad, tokens.shape[2]), tokens], dim=1)
        for block in self.vl_self_attention_model.blocks():
            tokens = block(tokens)
        return tokens

    def encode(self, images: torch.Tensor, game_ids: torch.Tensor) -> ContextCache:
        """Vision, context self-attention and every block's cross-attention keys/values, once.

        Args:
            images: (B, 3, S, S) float in [-1, 1] (the release's SigLIP processor output).
            game_ids: (B,) long, 0 = no game (the release's unconditional id).

        Returns:
            our :class:`ContextCache`; a self-attending block's keys and values are empty (it makes its own).
        """
        context = self.context_tokens(images, game_ids)
        keys, values = [], []
        for index, block in enumerate(self.model.blocks()):
            key, value = (
                (context[:0], context[:0]) if self.model.self_attends(index) else block.attn1.keys_values(context)
            )
            keys.append(key)
            values.append(value)
        return ContextCache(game=game_ids, keys=keys, values=values)

    # ---- flow time, computed once per chunk ----------------------------------------------------------
    def conditioning(self, t: torch.Tensor, game: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Everything that depends on the flow time only, for times ``t`` (..., B) (the game is a context token).

        Returns ``[buckets, block modulations..., output modulation]``, each with leading dims ``t.shape``.
        """
        buckets = flow_buckets(t, self.spec.num_timestep_buckets).to(t.device)
        embedder = self.model.timestep_encoder.timestep_embedder
        temb = embedder(time_code(buckets).to(embedder.linear_1.weight.dtype))
        mods = [
            block.norm1.modulation(temb) if isinstance(block.norm1, AdaLayerNorm) else temb[..., :0]
            for block in self.model.blocks()
        ]
        return [buckets, *mods, self.model.proj_out_1(F.silu(temb))]

    def velocity_from(self, noisy: torch.Tensor, mods: list[torch.Tensor], cache: ContextCache) -> torch.Tensor:
        """Velocity (B, T, action_dim) in the release's action space, from :meth:`conditioning`'s tensors."""
        buckets, *block_mods, out_mod = mods
        category = self.spec.embodiment_id
        x = self.action_encoder(noisy, buckets.expand(noisy.shape[0]), category)
        if self.spec.add_pos_embed:
            x = x + self.position_embedding.weight[: x.shape[1]]
        for index, (block, mod) in enumerate(zip(self.model.blocks(), block_mods, strict=True)):
            own = self.model.self_attends(index)
            keys, values = (None, None) if own else (cache.keys[index], cache.values[index])
            x = block(x, mod.expand(x.shape[0], -1) if block.ada_norm else None, keys, values)
        shift, scale = out_mod.expand(x.shape[0], -1).chunk(2, dim=-1)
        x = self.model.norm_out(x) * (1 + scale[:, None]) + shift[:, None]
        return self.action_decoder(self.model.proj_out_2(x), category)

    def velocity(self, noisy: torch.Tensor, t: torch.Tensor, cache: ContextCache) -> torch.Tensor:
        """Velocity for noisy actions (B, T, action_dim) at flow times t (B,)."""
        return self.velocity_from(noisy, self.conditioning(t), cache)

    # ---- our action schema at the boundary ---------------------------------------------------------------
    def to_gamepad(self, actions: torch.Tensor) -> torch.Tensor:
        """The release's (..., 25) values -> our raw flat (..., 21): sticks to [-1, 1] with y up, triggers snapped.

        Buttons stay raw (our decoder snaps them); triggers are snapped here because the release snaps them.
        """
        flat = actions.new_zeros(*actions.shape[:-1], gamepad.FLAT_SIZE)
        stick = actions[..., self._stick_index] * 2.0 - 1.0
        sign = torch.tensor([1.0, schema.Y_SIGN, 1.0, schema.Y_SIGN], dtype=actions.dtype, device=actions.device)
        flat[..., gamepad.STICK_SLICE] = stick * sign
        tokens = actions[..., self._button_index]
        for position, token in enumerate(schema.BUTTON_TOKENS):
            if token in schema.TOKEN_TO_FLAT:
                value = tokens[..., position]
                if token.endswith("TRIGGER"):
                    value = (value >= gamepad.BUTTON_THRESHOLD).to(actions.dtype)
                flat[..., schema.TOKEN_TO_FLAT[token]] = value
        return flat

    def from_gamepad(self, flat: torch.Tensor) -> torch.Tensor:
        """Our flat (..., 21) actions -> the release's (..., 25) training targets (see :func:`.schema.flat_to_official`)."""
        out = flat.new_zeros(*flat.shape[:-1], self.flow_dim)
        sign = torch.tensor([1.0, schema.Y_SIGN, 1.0, schema.Y_SIGN], dtype=flat.dtype, device=flat.device)
        out[..., self._stick_index] = (flat[..., gamepad.STICK_SLICE] * sign + 1.0) / 2.0
        for position, token in enumerate(schema.BUTTON_TOKENS):
            index = int(self._button_index[position])
            if token in schema.TOKEN_TO_FLAT:
                out[..., index] = flat[..., schema.TOKEN_TO_FLAT[token]]
            else:
                axis, direction = schema.VIRTUAL_TOKENS[token]
                pushed = direction * flat[..., gamepad.FLAT_NAMES.index(axis)] >= schema.VIRTUAL_THRESHOLD
                out[..., index] = pushed.to(flat.dtype)
        return out

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _siglip(config: NitroGenConfig) -> nn.Module:
    """The release's ``SiglipVisionModel(...).vision_model``, built from our config (no download).

    Its tensors are ``vision_encoder.embeddings.*``, ``vision_encoder.encoder.layers.N.*``, ... on Transformers
    4 and 5 alike (:func:`siglip_tower` finds the module that carries those names on either).
    """
    from nitrogen_policies.import_utils import require_package
    from nitrogen_policies.nitrogen.modeling_nitrogen import siglip_tower, siglip_vision_config

    transformers = require_package("transformers")
    return siglip_tower(transformers.SiglipVisionModel(siglip_vision_config(config)))
