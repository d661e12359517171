"""NVIDIA's released NitroGen checkpoint: read without running it, converted, and mirrored exactly.

The checkpoint here is synthetic: the release's key names and shapes at tiny sizes, saved with ``torch.save``
next to stand-ins of its pydantic config classes (registered under the release's module names only while
saving). The reference forward below is written from the release's code (``NitroGen.get_action`` and the
diffusers blocks it uses), functionally over the state dict, independently of our mirror.
"""

from __future__ import annotations

import math
import os
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pydantic = pytest.importorskip("pydantic")
F = torch.nn.functional

from nitrogen_envs import gamepad  # noqa: E402
from nitrogen_policies import NitroGenPolicy  # noqa: E402
from nitrogen_policies.errors import CheckpointError, UnsafeCheckpoint  # noqa: E402
from nitrogen_policies.official import schema  # noqa: E402
from nitrogen_policies.official.convert import convert_official  # noqa: E402
from nitrogen_policies.official.unpickler import load_official, rebuild_tensor  # noqa: E402

# ---- tiny release-shaped sizes -------------------------------------------------------------------------------------
VISION = {"hidden_size": 128, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
"""SigLIP heads are not in the tensors: a width outside the published ones gets width // 64 heads, 2 here."""
IMAGE, PATCH = 32, 8  # 16 image tokens
HIDDEN = 48  # the DiT width (2 heads of 24)
DIT = {"num_attention_heads": 2, "attention_head_dim": 24, "num_layers": 2, "interleave_self_attention": True}
VL = {"num_attention_heads": 2, "attention_head_dim": 64, "num_layers": 1}
HORIZON, STEPS, SEQ, MAX_POS, BUCKETS = 4, 3, 24, 32, 1000
GAMES = {None: 0, "Alpha": 1, "Beta": 2, "Gamma": 3}
FLOAT32_ROUNDING = 1e-4
"""Sampling tests' tolerance, as a fraction of the chunk's largest value (~100-300 here): float32 rounding over
three Euler steps of random weights, up to 2.2e-5 measured (cached against uncached, guided against the release;
four weight draws on each stack; guidance's (1 - s) u + s c adds errors |1 - s| + |s| = 4 times over).
Architecture differences are checked in float64 by the step-by-step test; a wrong term moves values by whole units."""


# ---- stand-ins of the release's pydantic config classes -------------------------------------------------------------
def _official(cls: type, module: str) -> type:
    cls.__module__ = module
    return cls


class DiTConfig(pydantic.BaseModel):
    num_attention_heads: int = 8
    attention_head_dim: int = 64
    output_dim: int = 26
    num_layers: int = 12
    dropout: float = 0.1
    attention_bias: bool = True
    activation_fn: str = "gelu-approximate"
    norm_type: str = "ada_norm"
    norm_elementwise_affine: bool = False
    norm_eps: float = 1e-5
    max_num_positional_embeddings: int = 512
    positional_embeddings: str | None = "sinusoidal"
    interleave_self_attention: bool = False
    cross_attention_dim: int | None = None


class SelfAttentionTransformerConfig(pydantic.BaseModel):
    num_attention_heads: int = 8
    attention_head_dim: int = 64
    num_layers: int = 12
    attention_bias: bool = True
    activation_fn: str = "gelu-approximate"
    max_num_positional_embeddings: int = 512
    positional_embeddings: str | None = "sinusoidal"


class NitroGen_Config(pydantic.BaseModel):  # noqa: N801 (the release's name)
    diffusion_model_cfg: DiTConfig
    vl_self_attention_cfg: SelfAttentionTransformerConfig
    add_pos_embed: bool = False
    hidden_size: int = 1024
    max_seq_len: int = 1024
    action_dim: int = 25
    action_horizon: int = 16
    noise_beta_alpha: float = 1.5
    noise_beta_beta: float = 1.0
    num_timestep_buckets: int = 1000
    num_inference_timesteps: int = 16
    max_num_embodiments: int = 1
    vision_encoder_name: str = "google/siglip-large-patch16-256"
    vision_hidden_size: int = 768


class GameMappingConfig(pydantic.BaseModel):
    src_files: list[str] = pydantic.Field(default_factory=list)


class NitrogenTokenizerConfig(pydantic.BaseModel):
    num_visual_tokens_per_frame: int = 256
    max_action_dim: int = 25
    max_sequence_length: int = 300
    action_horizon: int = 16
    game_mapping_cfg: GameMappingConfig | None = None
    old_layout: bool = False


class ModalityConfig(pydantic.BaseModel):
    frame_per_sample: int = 1
    action_per_chunk: int = 8


class CkptConfig(pydantic.BaseModel):
    experiment_name: str
    model_cfg: NitroGen_Config
    tokenizer_cfg: NitrogenTokenizerConfig
    modality_cfg: ModalityConfig


RELEASE_MODULES = {
    "nitrogen.cfg": [CkptConfig, ModalityConfig],
    "nitrogen.flow_matching_transformer.nitrogen": [NitroGen_Config],
    "nitrogen.flow_matching_transformer.modules": [DiTConfig, SelfAttentionTransformerConfig],
    "nitrogen.mm_tokenizers": [NitrogenTokenizerConfig, GameMappingConfig],
}


def release_config() -> CkptConfig:
    return CkptConfig(
        experiment_name="tiny",
        model_cfg=NitroGen_Config(
            diffusion_model_cfg=DiTConfig(
                **DIT,
                output_dim=HIDDEN,
                cross_attention_dim=VISION["hidden_size"],
                max_num_positional_embeddings=MAX_POS,
            ),
            vl_self_attention_cfg=SelfAttentionTransformerConfig(**VL, max_num_positional_embeddings=MAX_POS),
            add_pos_embed=True,
            hidden_size=HIDDEN,
            max_seq_len=8,
            action_horizon=HORIZON,
            num_inference_timesteps=STEPS,
            max_num_embodiments=2,
            vision_hidden_size=VISION["hidden_size"],
        ),
        tokenizer_cfg=NitrogenTokenizerConfig(
            num_visual_tokens_per_frame=(IMAGE // PATCH) ** 2,
            max_sequence_length=SEQ,
            action_horizon=HORIZON,
            game_mapping_cfg=GameMappingConfig(src_files=["/data/games.parquet"]),
        ),
        modality_cfg=ModalityConfig(),
    )


# ---- the release's state dict at tiny sizes (names written out from its modules) -------------------------------------
def _block(prefix: str, dim: int, heads: int, head_dim: int, context: int | None, ada: bool, affine: bool) -> dict:
    inner = heads * head_dim
    shapes = {
        "attn1.to_q.weight": (inner, dim),
        "attn1.to_q.bias": (inner,),
        "attn1.to_k.weight": (inner, context or dim),
        "attn1.to_k.bias": (inner,),
        "attn1.to_v.weight": (inner, context or dim),
        "attn1.to_v.bias": (inner,),
        "attn1.to_out.0.weight": (dim, inner),
        "attn1.to_out.0.bias": (dim,),
        "ff.net.0.proj.weight": (4 * dim, dim),
        "ff.net.0.proj.bias": (4 * dim,),
        "ff.net.2.weight": (dim, 4 * dim),
        "ff.net.2.bias": (dim,),
        "pos_embed.pe": (1, MAX_POS, dim),
    }
    if ada:
        shapes.update({"norm1.linear.weight": (2 * dim, dim), "norm1.linear.bias": (2 * dim,)})
    elif affine:
        shapes.update({"norm1.weight": (dim,), "norm1.bias": (dim,), "norm3.weight": (dim,), "norm3.bias": (dim,)})
    return {prefix + key: shape for key, shape in shapes.items()}


def release_siglip():
    """The release's ``SiglipVisionModel(...).vision_model``: Transformers 5 has no such wrapper, the model is it."""
    model = transformers.SiglipVisionModel(
        transformers.SiglipVisionConfig(**VISION, image_size=IMAGE, patch_size=PATCH)
    )
    return getattr(model, "vision_model", model)


def release_state_dict(seed: int = 0) -> OrderedDict:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    siglip = release_siglip()
    state: OrderedDict = OrderedDict(("vision_encoder." + key, value) for key, value in siglip.state_dict().items())
    shapes: dict = {}
    width = VISION["hidden_size"]
    shapes.update(_block("vl_self_attention_model.transformer_blocks.0.", width, 2, 64, None, ada=False, affine=True))
    for index in range(DIT["num_layers"]):
        context = None if index % 2 == 1 else width
        shapes.update(_block(f"model.transformer_blocks.{index}.", HIDDEN, 2, 24, context, ada=True, affine=False))
    shapes.update(
        {
            "model.timestep_encoder.timestep_embedder.linear_1.weight": (HIDDEN, 256),
            "model.timestep_encoder.timestep_embedder.linear_1.bias": (HIDDEN,),
            "model.timestep_encoder.timestep_embedder.linear_2.weight": (HIDDEN, HIDDEN),
            "model.timestep_encoder.timestep_embedder.linear_2.bias": (HIDDEN,),
            "model.proj_out_1.weight": (2 * HIDDEN, HIDDEN),
            "model.proj_out_1.bias": (2 * HIDDEN,),
            "model.proj_out_2.weight": (HIDDEN, HIDDEN),
            "model.proj_out_2.bias": (HIDDEN,),
            "action_encoder.W1.W": (2, 25, HIDDEN),
            "action_encoder.W1.b": (2, HIDDEN),
            "action_encoder.W2.W": (2, 2 * HIDDEN, HIDDEN),
            "action_encoder.W2.b": (2, HIDDEN),
            "action_encoder.W3.W": (2, HIDDEN, HIDDEN),
            "action_encoder.W3.b": (2, HIDDEN),
            "action_decoder.layer1.W": (2, HIDDEN, HIDDEN),
            "action_decoder.layer1.b": (2, HIDDEN),
            "action_decoder.layer2.W": (2, HIDDEN, 25),
            "action_decoder.layer2.b": (2, 25),
            "position_embedding.weight": (8, HIDDEN),
            "game_embedding.weight": (len(GAMES), width),
        }
    )
    for key, shape in shapes.items():
        scale = 0.3 if key.endswith((".W", "weight")) else 0.1
        state[key] = torch.randn(shape, generator=generator) * scale
    return state


def save_release_checkpoint(path: Path, monkeypatch: pytest.MonkeyPatch, state=None, **extra) -> Path:
    """``torch.save`` as the release does, with its config classes importable only while saving."""
    state = release_state_dict() if state is None else state
    with monkeypatch.context() as patch:
        for package in ("nitrogen", "nitrogen.flow_matching_transformer"):  # pickle imports the parents first
            patch.setitem(sys.modules, package, types.ModuleType(package))
        for module_name, classes in RELEASE_MODULES.items():
            module = types.ModuleType(module_name)
            for cls in classes:
                _official(cls, module_name)
                setattr(module, cls.__name__, cls)
            patch.setitem(sys.modules, module_name, module)
        torch.save({"ckpt_config": release_config(), "model": state, **extra}, path)
    assert "nitrogen" not in sys.modules and "nitrogen.cfg" not in sys.modules
    return path


@pytest.fixture(scope="module")
def release_file(tmp_path_factory) -> Path:
    monkeypatch = pytest.MonkeyPatch()
    try:
        return save_release_checkpoint(tmp_path_factory.mktemp("release") / "ng.pt", monkeypatch, game_mapping=GAMES)
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="module")
def converted(release_file, tmp_path_factory) -> Path:
    return convert_official(release_file, tmp_path_factory.mktemp("converted") / "ng").folder


# ---- the reference forward, from the release's code ------------------------------------------------------------------
def _linear(x, state, name):
    return F.linear(x, state[name + ".weight"], state.get(name + ".bias"))


def _attention(state, prefix, x, context, heads):
    q, k, v = (
        _linear(source, state, f"{prefix}attn1.to_{n}") for n, source in (("q", x), ("k", context), ("v", context))
    )
    b, lq, inner = q.shape
    split = lambda t: t.view(b, t.shape[1], heads, inner // heads).transpose(1, 2)  # noqa: E731
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(inner // heads)
    out = (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(b, lq, inner)
    return _linear(out, state, f"{prefix}attn1.to_out.0")


def _block_forward(state, prefix, x, heads, temb=None, context=None):
    """``BasicTransformerBlock.forward``: norm1 (AdaLayerNorm or LayerNorm), pos_embed, attn1, norm3, ff."""
    dim = x.shape[-1]
    if temb is not None:
        scale, shift = _linear(F.silu(temb), state, f"{prefix}norm1.linear").chunk(2, dim=1)
        h = F.layer_norm(x, (dim,), eps=1e-5) * (1 + scale[:, None]) + shift[:, None]
        norm3 = F.layer_norm
        h3 = lambda y: norm3(y, (dim,), eps=1e-5)  # noqa: E731
    else:
        h = F.layer_norm(x, (dim,), state[f"{prefix}norm1.weight"], state[f"{prefix}norm1.bias"], eps=1e-5)
        h3 = lambda y: F.layer_norm(y, (dim,), state[f"{prefix}norm3.weight"], state[f"{prefix}norm3.bias"], eps=1e-5)  # noqa: E731
    h = h + state[f"{prefix}pos_embed.pe"][:, : h.shape[1]]
    x = _attention(state, prefix, h, h if context is None else context, heads) + x
    ff = F.gelu(_linear(h3(x), state, f"{prefix}ff.net.0.proj"), approximate="tanh")
    return _linear(ff, state, f"{prefix}ff.net.2") + x


def _timesteps(t):
    """diffusers ``Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=1)``."""
    exponent = -math.log(10000) * torch.arange(128, dtype=torch.float32) / (128 - 1)
    emb = t[:, None].float() * torch.exp(exponent)[None]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    return torch.cat([emb[:, 128:], emb[:, :128]], dim=-1)


def _category(x, state, name, e):
    return torch.bmm(x, state[name + ".W"][e]) + state[name + ".b"][e].unsqueeze(1)


def reference_velocity(state, images, game_ids, actions, t_discretized):
    """One step of ``NitroGen.get_action``: tokenizer layout, prepare_input_embs, vl self-attention, DiT, decoder."""
    batch = images.shape[0]
    vision = release_siglip()
    vision.load_state_dict(
        {k[len("vision_encoder.") :]: v for k, v in state.items() if k.startswith("vision_encoder.")}
    )
    features = vision.eval()(images)["last_hidden_state"]
    # vl_token_ids: left PAD up to max_sequence_length, then the game token, then the image tokens (no mask applied)
    vl = torch.zeros(batch, SEQ, VISION["hidden_size"])
    vl[:, SEQ - features.shape[1] :] = features
    vl[:, SEQ - features.shape[1] - 1] = F.embedding(game_ids, state["game_embedding.weight"])
    vl = _block_forward(state, "vl_self_attention_model.transformer_blocks.0.", vl, heads=2)
    # action encoder with the sinusoidal code of the bucket over (B, T)
    e = torch.zeros(batch, dtype=torch.long)
    tau = (torch.ones(batch) * t_discretized).unsqueeze(1).expand(-1, HORIZON).float()
    half = HIDDEN // 2
    freqs = tau.unsqueeze(-1) * torch.exp(-torch.arange(half, dtype=torch.float) * (math.log(10000.0) / half))
    a = _category(actions, state, "action_encoder.W1", e)
    code = torch.cat([torch.sin(freqs), torch.cos(freqs)], dim=-1).to(a.dtype)
    x = _category(torch.cat([a, code], dim=-1), state, "action_encoder.W2", e)
    x = _category(x * torch.sigmoid(x), state, "action_encoder.W3", e)
    x = x + state["position_embedding.weight"][:HORIZON].unsqueeze(0)
    # DiT
    ts = torch.tensor([t_discretized]).long()
    temb = _linear(
        F.silu(_linear(_timesteps(ts).to(x.dtype), state, "model.timestep_encoder.timestep_embedder.linear_1")),
        state,
        "model.timestep_encoder.timestep_embedder.linear_2",
    )
    for index in range(DIT["num_layers"]):
        context = None if index % 2 == 1 else vl
        x = _block_forward(state, f"model.transformer_blocks.{index}.", x, heads=2, temb=temb, context=context)
    shift, scale = _linear(F.silu(temb), state, "model.proj_out_1").chunk(2, dim=1)
    x = F.layer_norm(x, (HIDDEN,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]
    x = _linear(x, state, "model.proj_out_2")
    return _category(F.relu(_category(x, state, "action_decoder.layer1", e)), state, "action_decoder.layer2", e)


def reference_get_action(state, images, game_ids, noise):
    actions = noise
    for i in range(STEPS):
        t_discretized = int(i / float(STEPS) * BUCKETS)
        actions = actions + (1.0 / STEPS) * reference_velocity(state, images, game_ids, actions, t_discretized)
    return actions


def reference_get_action_with_cfg(state, images, game_ids, noise, cfg_scale):
    """The release's guided sampler: velocity = (1 - s) * model(no game) + s * model(game), Euler steps."""
    actions = noise
    no_game = torch.zeros_like(game_ids)
    for i in range(STEPS):
        t_discretized = int(i / float(STEPS) * BUCKETS)
        conditional = reference_velocity(state, images, game_ids, actions, t_discretized)
        unconditional = reference_velocity(state, images, no_game, actions, t_discretized)
        actions = actions + (1.0 / STEPS) * ((1.0 - cfg_scale) * unconditional + cfg_scale * conditional)
    return actions


# ---- tests ------------------------------------------------------------------------------------------------------------
def test_the_release_format_reads_as_plain_data_without_importing_its_classes(release_file):
    raw = load_official(release_file)
    assert "nitrogen.cfg" not in sys.modules and "nitrogen" not in sys.modules
    assert isinstance(raw["ckpt_config"], dict)
    assert raw["ckpt_config"]["model_cfg"]["diffusion_model_cfg"]["num_layers"] == DIT["num_layers"]
    assert raw["ckpt_config"]["tokenizer_cfg"]["game_mapping_cfg"] == {"src_files": ["/data/games.parquet"]}
    reference = release_state_dict()
    assert set(raw["model"]) == set(reference)
    assert all(torch.equal(raw["model"][key], value) for key, value in reference.items())


def test_converted_model_matches_the_reference_forward_step_by_step(release_file, converted):
    """In float64, so any difference is a difference of architecture, not of rounding."""
    state = {key: value.double() for key, value in release_state_dict().items()}
    policy = NitroGenPolicy.from_pretrained(converted).double()
    assert policy.config.name == "nitrogen-official" and policy.config.game_names[1:] == ("Alpha", "Beta", "Gamma")
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(2, 3, IMAGE, IMAGE, generator=generator, dtype=torch.float64) * 2 - 1
    game_ids = torch.tensor([2, 0])
    noisy = torch.rand(2, HORIZON, 25, generator=generator, dtype=torch.float64)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # the reference builds its SigLIP inside
    try:
        _compare_steps(policy, state, images, game_ids, noisy)
    finally:
        torch.set_default_dtype(previous)


def _compare_steps(policy, state, images, game_ids, noisy):
    with torch.no_grad():
        cache = policy.model.encode(images, game_ids)
        for step in range(STEPS):
            t = torch.full((2,), step / STEPS)
            ours = policy.model.velocity(noisy, t, cache)
            expected = reference_velocity(state, images, game_ids, noisy, int(step / STEPS * BUCKETS))
            assert expected.abs().max() > 1.0  # outputs of the right scale, not all near zero
            torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-9)


def test_cached_sampling_equals_the_releases_get_action_on_the_same_noise(converted):
    state = release_state_dict()
    policy = NitroGenPolicy.from_pretrained(converted)
    frames = np.random.default_rng(0).integers(0, 256, size=(2, IMAGE, IMAGE, 3), dtype=np.uint8)
    ours = policy.sample_raw(frames, game="Beta", generator=torch.Generator().manual_seed(7))
    noise = torch.randn((2, HORIZON, 25), generator=torch.Generator().manual_seed(7))
    images = torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        release = reference_get_action(state, images, torch.tensor([2, 2]), noise)
    expected = schema.official_to_flat(release.numpy(), threshold=False)
    expected[..., gamepad.TRIGGER_SLICE] = expected[..., gamepad.TRIGGER_SLICE] >= 0.5  # the release snaps triggers
    tolerance = FLOAT32_ROUNDING * float(np.abs(expected).max())
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-4, atol=tolerance)
    uncached = policy.sample_raw(frames, game="Beta", generator=torch.Generator().manual_seed(7), use_cache=False)
    np.testing.assert_allclose(uncached.numpy(), ours.numpy(), rtol=1e-4, atol=tolerance)


def test_guided_sampling_equals_the_releases_get_action_with_cfg(converted):
    state = release_state_dict()
    policy = NitroGenPolicy.from_pretrained(converted)
    policy.config.guidance_scale = 2.5
    frames = np.random.default_rng(1).integers(0, 256, size=(2, IMAGE, IMAGE, 3), dtype=np.uint8)
    ours = policy.sample_raw(frames, game="Beta", generator=torch.Generator().manual_seed(3))
    noise = torch.randn((2, HORIZON, 25), generator=torch.Generator().manual_seed(3))
    images = torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        release = reference_get_action_with_cfg(state, images, torch.tensor([2, 2]), noise, 2.5)
        unguided = reference_get_action(state, images, torch.tensor([2, 2]), noise)
    expected = schema.official_to_flat(release.numpy(), threshold=False)
    expected[..., gamepad.TRIGGER_SLICE] = expected[..., gamepad.TRIGGER_SLICE] >= 0.5
    tolerance = FLOAT32_ROUNDING * float(np.abs(expected).max())
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-4, atol=tolerance)
    assert not np.allclose(release.numpy(), unguided.numpy(), atol=1e-3)  # guidance changed the chunk
    uncached = policy.sample_raw(frames, game="Beta", generator=torch.Generator().manual_seed(3), use_cache=False)
    np.testing.assert_allclose(uncached.numpy(), ours.numpy(), rtol=1e-4, atol=tolerance)


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: (os.system, (f"touch {marker}",)),
        lambda marker: (exec, (f"open({str(marker)!r}, 'w').write('ran')",)),
        lambda marker: (Path.write_text, (Path(marker), "ran")),
    ],
    ids=["os.system", "exec", "a function that writes a file"],
)
def test_a_checkpoint_carrying_a_payload_is_refused_and_the_payload_never_runs(tmp_path, payload):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return payload(marker)

    path = tmp_path / "ng.pt"
    torch.save({"ckpt_config": {"model_cfg": {}}, "model": {"w": torch.zeros(2)}, "x": Payload()}, path)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpoint, match=r"names (posix|nt|builtins|pathlib)\.\w+") as caught:
        load_official(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(UnsafeCheckpoint):
        NitroGenPolicy.from_pretrained(path)
    assert not marker.exists()


def test_a_tensor_reaching_past_its_storage_is_refused():
    with pytest.raises(UnsafeCheckpoint, match="reaches element"):
        rebuild_tensor(torch.zeros(4), 1, (2, 2), (2, 1), False, OrderedDict())
    assert rebuild_tensor(torch.arange(6.0), 0, (3, 2), (1, 3)).tolist() == [[0, 3], [1, 4], [2, 5]]


def test_unknown_and_missing_tensors_are_named(tmp_path, monkeypatch):
    state = release_state_dict()
    del state["action_decoder.layer2.b"]
    state["model.extra_head.weight"] = torch.zeros(3)
    path = save_release_checkpoint(tmp_path / "ng.pt", monkeypatch, state=state)
    with pytest.raises(
        CheckpointError, match=r"unmapped tensors model\.extra_head\.weight.*missing tensors action_decoder\.layer2\.b"
    ):
        convert_official(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_action_schema_round_trips_and_flips_stick_y():
    rng = np.random.default_rng(0)
    flat = np.zeros((50, gamepad.FLAT_SIZE), np.float32)
    flat[:, gamepad.STICK_SLICE] = rng.uniform(-1, 1, (50, 4))
    flat[:, 4:] = rng.integers(0, 2, (50, 17))
    official = schema.flat_to_official(flat)
    assert official.shape == (50, 25) and official[:, 21:].min() >= 0 and official[:, 21:].max() <= 1
    np.testing.assert_allclose(schema.official_to_flat(official), flat, atol=1e-6)
    up_and_south = np.full(25, 0.5, np.float32)
    up_and_south[:21] = 0
    up_and_south[22] = 0.0  # the release's left y = -1: pushed up
    up_and_south[schema.BUTTON_TOKENS.index("SOUTH")] = 0.9
    up_and_south[schema.BUTTON_TOKENS.index("LEFT_TRIGGER")] = 0.7
    ours = schema.official_to_flat(up_and_south)
    assert ours[gamepad.FLAT_NAMES.index("left_y")] == 1.0  # ours: +y up
    assert ours[gamepad.FLAT_NAMES.index("south")] == 1.0 and ours[gamepad.FLAT_NAMES.index("left_trigger")] == 1.0
    assert ours[gamepad.BUTTON_SLICE].sum() == 1.0


def test_the_models_action_mapping_agrees_with_the_schema(converted):
    policy = NitroGenPolicy.from_pretrained(converted)
    rng = np.random.default_rng(1)
    official = rng.uniform(0, 1, (3, 25)).astype(np.float32)
    ours = policy.model.to_gamepad(torch.as_tensor(official)).numpy()
    expected = schema.official_to_flat(official, threshold=False)
    expected[:, gamepad.TRIGGER_SLICE] = expected[:, gamepad.TRIGGER_SLICE] >= 0.5
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    flat = schema.official_to_flat(official)
    np.testing.assert_allclose(policy.model.from_gamepad(torch.as_tensor(flat)).numpy(), schema.flat_to_official(flat))


def test_the_converted_model_plays_an_embedded_env_through_the_policy_api(converted):
    import gymnasium as gym

    from nitrogen_envs import FlatGamepad

    policy = NitroGenPolicy.from_pretrained(converted)
    policy.set_game("Alpha")
    env = FlatGamepad(gym.make("NitroGen/CoinRun-v0", obs_size=24))
    obs, _ = env.reset(seed=0)
    for _ in range(HORIZON + 2):
        action, _ = policy.predict(obs)
        assert env.action_space.contains(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()


def test_from_pretrained_converts_a_local_ng_pt_once(release_file, tmp_path, monkeypatch):
    monkeypatch.setenv("NITROGEN_CACHE", str(tmp_path))
    first = NitroGenPolicy.from_pretrained(release_file)
    folders = list((tmp_path / "official" / "converted").iterdir())
    assert len(folders) == 1
    stamp = (folders[0] / "model.safetensors").stat().st_mtime_ns
    second = NitroGenPolicy.from_pretrained(str(release_file))
    assert (folders[0] / "model.safetensors").stat().st_mtime_ns == stamp
    assert all(
        torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )


def test_the_hub_id_offline_says_what_to_download_and_where(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("cannot reach the Hub\nwhile offline")

    monkeypatch.setenv("NITROGEN_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(CheckpointError) as caught:
        NitroGenPolicy.from_pretrained("nvidia/NitroGen")
    message = str(caught.value)
    assert "\n" not in message
    assert "https://huggingface.co/nvidia/NitroGen/resolve/main/ng.pt" in message
    assert str(tmp_path / "official" / "ng.pt") in message


def test_the_hub_id_uses_a_placed_ng_pt(release_file, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("NITROGEN_CACHE", str(tmp_path))
    (tmp_path / "official").mkdir()
    shutil.copy(release_file, tmp_path / "official" / "ng.pt")
    policy = NitroGenPolicy.from_pretrained("nvidia/NitroGen")
    assert policy.config.official is not None


def test_convert_official_cli(release_file, tmp_path):
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    result = CliRunner().invoke(cli, ["convert-official", str(release_file), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "3 games" in result.output  # the release's id 0 is "no game"
    assert (tmp_path / "out" / "config.json").is_file() and (tmp_path / "out" / "model.safetensors").is_file()
    missing = CliRunner().invoke(cli, ["convert-official", str(tmp_path / "nope.pt"), str(tmp_path / "o2")])
    assert missing.exit_code == 1 and "no such checkpoint file" in missing.output


def test_the_converted_model_trains_with_our_flow_matching_loss(converted):
    policy = NitroGenPolicy.from_pretrained(converted).train()
    frames = torch.zeros((2, IMAGE, IMAGE, 3), dtype=torch.uint8)
    actions = torch.as_tensor(schema.official_to_flat(np.random.default_rng(0).uniform(0, 1, (2, HORIZON, 25))))
    loss, logs = policy({"frames": frames, "actions": actions, "game_id": torch.tensor([1, 0])})
    loss.backward()
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    assert policy.model.action_decoder.layer2.W.grad is not None
    assert policy.model.vision_encoder.embeddings.patch_embedding.weight.grad is not None


# Tensor names of a SigLIP tower as the release's ng.pt (Transformers 4) stores them; Transformers 5 dropped the
# ``vision_model`` wrapper module, and checkpoints written on either stack must keep loading on both.
SIGLIP_NAMES = [
    "embeddings.patch_embedding.weight",
    "embeddings.position_embedding.weight",
    "encoder.layers.0.self_attn.q_proj.weight",
    "encoder.layers.0.mlp.fc2.bias",
    "post_layernorm.weight",
    "head.probe",
]


def test_siglip_towers_keep_the_release_and_transformers_4_key_names_on_either_stack(converted, tmp_path):
    official = NitroGenPolicy.from_pretrained(converted).model.state_dict()
    assert {"vision_encoder." + name for name in SIGLIP_NAMES} <= official.keys()
    vision = {"vision_hidden_size": 32, "vision_layers": 1, "vision_heads": 2, "vision_intermediate_size": 64}
    ours = NitroGenPolicy.from_config(
        "nitrogen-s", encoder="siglip", image_size=IMAGE, vision_patch_size=PATCH, **vision
    )
    keys = ours.model.state_dict().keys()
    assert {"encoder.vision.vision_model." + name for name in SIGLIP_NAMES} <= keys
    encoder = [key for key in keys if key.startswith("encoder.") and not key.startswith("encoder.project.")]
    assert all(key.startswith("encoder.vision.vision_model.") for key in encoder), encoder
    ours.save_pretrained(tmp_path)
    again = NitroGenPolicy.from_pretrained(tmp_path).model.state_dict()
    assert again.keys() == keys and all(
        torch.equal(again[key], value) for key, value in ours.model.state_dict().items()
    )
