"""The learned overlay parser: trained on synthetic renders only, shipped, read back on held-out styles."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("cv2")
pytest.importorskip("av")
pytest.importorskip("pyarrow")
torch = pytest.importorskip("torch")

from fixtures.overlay_factories import gameplay  # noqa: E402

from nitrogen_datasets.overlay import OverlayRenderer  # noqa: E402
from nitrogen_datasets.overlay.eval_report import format_evaluation  # noqa: E402
from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig, evaluate_overlays  # noqa: E402
from nitrogen_datasets.overlay.localize import localize  # noqa: E402
from nitrogen_datasets.overlay.parser_training import ParserTrainConfig, train_parser  # noqa: E402
from nitrogen_datasets.overlay.parser_weights import load_parser  # noqa: E402
from nitrogen_datasets.overlay.styles import preset_styles  # noqa: E402
from nitrogen_datasets.overlay.synthetic import HELD_OUT_PALETTE, ElementSampler, training_style  # noqa: E402

PRESETS = {style.name: style for style in preset_styles()}


def test_training_never_draws_a_preset_style_or_the_held_out_palette():
    from nitrogen_datasets.overlay.styles import _PALETTES

    rng = np.random.default_rng(0)
    held_out = _PALETTES[HELD_OUT_PALETTE]
    for _ in range(300):
        style = training_style(rng)
        assert (style.base, style.accent, style.pressed, style.panel) != held_out
        assert style.name not in PRESETS


def test_synthetic_samples_carry_the_drawn_action():
    batch = ElementSampler(seed=3).sample(4)
    assert batch.images.dtype == np.uint8 and batch.images.shape[1:] == (32, 32, 10)
    assert set(np.unique(batch.kinds)) <= {0, 1, 2}
    buttons = batch.targets[batch.kinds == 0, 0]
    assert set(np.unique(buttons)) <= {0.0, 1.0}
    sticks = batch.targets[batch.kinds == 2, 2:]
    assert np.abs(sticks).max() <= 1.0


def test_train_parser_writes_safetensors_with_its_validation_figures(tmp_path):
    config = ParserTrainConfig(renders=24, validation_renders=8, epochs=1, batch_size=64, workers=1, threads=1)
    result = train_parser(config, tmp_path / "parser", progress=False)
    assert (tmp_path / "parser" / "parser.safetensors").is_file()
    meta = json.loads((tmp_path / "parser" / "parser.json").read_text())
    assert set(meta["validation"]) >= {"button_accuracy", "trigger_accuracy", "stick_r2"}
    reported = (result.button_accuracy, result.trigger_accuracy, result.stick_r2)
    assert reported == tuple(meta["validation"][k] for k in ("button_accuracy", "trigger_accuracy", "stick_r2"))
    assert (tmp_path / "parser" / "tb").is_dir()
    model = load_parser(tmp_path / "parser")
    assert sum(p.numel() for p in model.parameters()) > 10_000


@pytest.mark.filterwarnings("error")
def test_train_parser_logs_its_losses_without_a_warning(tmp_path):
    """The loss is logged every 50 steps; read as ``float(loss)`` it made torch warn at each log ("Converting a
    tensor with requires_grad=True to a scalar"), filling a user's terminal during ``train-parser``."""
    config = ParserTrainConfig(renders=24, validation_renders=4, epochs=1, batch_size=8, workers=1, threads=1)
    train_parser(config, tmp_path / "parser", progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "parser" / "tb"))
    events.Reload()
    logged = events.Scalars("loss/total")  # the branch that warned ran: 24 renders make more than 50 batches of 8
    assert [event.step for event in logged][:1] == [50] and np.isfinite(logged[0].value)


def test_train_parser_leaves_torchs_seed_and_thread_count_as_it_found_them(tmp_path):
    """Training seeds torch and sets its threads; a caller's process (this test session) must not keep either."""
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # a count the config does not ask for
    try:
        torch.manual_seed(12345)
        state = torch.get_rng_state()
        config = ParserTrainConfig(renders=4, validation_renders=2, epochs=1, batch_size=64, workers=1, threads=1)
        train_parser(config, tmp_path / "parser", progress=False)
        assert torch.get_num_threads() == threads + 1
        assert torch.equal(torch.get_rng_state(), state)
    finally:
        torch.set_num_threads(threads)


def test_train_parser_can_start_from_a_trained_parser_and_refuses_another_network(tmp_path, monkeypatch):
    """``init`` warm-starts from a parser's weights (recorded in parser.json); a different network is refused first."""
    from nitrogen_datasets.overlay import parser_training
    from nitrogen_datasets.overlay.parser_weights import BUNDLED_WEIGHTS, InvalidParser

    figures = {"button_accuracy": 0.5, "trigger_accuracy": 0.5, "trigger_mae": 0.5, "stick_r2": 0.0}
    monkeypatch.setattr(parser_training, "evaluate_elements", lambda model, batch: figures)
    shipped = load_parser(BUNDLED_WEIGHTS)
    config = ParserTrainConfig(
        renders=2,
        validation_renders=1,
        epochs=1,
        batch_size=64,
        lr=1e-9,
        workers=1,
        threads=1,
        init=str(BUNDLED_WEIGHTS),
    )
    train_parser(config, tmp_path / "warm", progress=False)
    warm = load_parser(tmp_path / "warm")
    for name, value in shipped.state_dict().items():  # a step at lr 1e-9 leaves the shipped weights
        assert torch.allclose(warm.state_dict()[name].float(), value.float(), atol=1e-5), name
    assert json.loads((tmp_path / "warm" / "parser.json").read_text())["training"]["init"] == str(BUNDLED_WEIGHTS)

    def never(*args, **kwargs):
        raise AssertionError("rendered before the network was checked")

    monkeypatch.setattr(parser_training, "render_pool", never)
    with pytest.raises(InvalidParser, match="button_margin"):
        train_parser(replace(config, button_margin=0.1), tmp_path / "other", progress=False)


def test_train_parser_stopped_after_an_epoch_keeps_that_epoch(tmp_path, monkeypatch):
    """A long (GPU) run that hits its time limit must leave a usable parser, not nothing."""
    from nitrogen_datasets.overlay import parser_training

    evaluations = []

    def evaluate_then_stop(model, batch):
        evaluations.append(1)
        if len(evaluations) == 2:
            raise KeyboardInterrupt  # stopped during the second epoch's validation
        return {"button_accuracy": 0.5, "trigger_accuracy": 0.5, "trigger_mae": 0.5, "stick_r2": 0.0}

    monkeypatch.setattr(parser_training, "evaluate_elements", evaluate_then_stop)
    config = ParserTrainConfig(renders=12, validation_renders=4, epochs=3, batch_size=64, workers=1, threads=1)
    with pytest.raises(KeyboardInterrupt):
        train_parser(config, tmp_path / "parser", progress=False)
    meta = json.loads((tmp_path / "parser" / "parser.json").read_text())
    assert meta["epochs_done"] == 1
    assert sum(p.numel() for p in load_parser(tmp_path / "parser").parameters()) > 10_000


def test_missing_parser_weights_say_how_to_train_them(tmp_path):
    from nitrogen_datasets.overlay.parser_weights import ParserNotFound

    with pytest.raises(ParserNotFound, match="train-parser"):
        load_parser(tmp_path)


def test_names_split_out_of_learned_and_extract_still_import_from_there():
    """Code written against the old module layout keeps working: the modules re-export what they used to hold."""
    from nitrogen_datasets.overlay import calibration, decode, extract, learned, parser_net, parser_weights, region

    assert learned.load_parser is parser_weights.load_parser and learned.ElementNet is parser_net.ElementNet
    assert learned.calibrate_presses is calibration.calibrate_presses
    assert extract.prefetch is decode.prefetch and extract.overlay_region is region.overlay_region
    for module in (learned, extract):
        assert all(hasattr(module, name) for name in module.__all__)


def test_faint_outlined_overlay_is_found_by_its_edges():
    style = replace(PRESETS["xbox-highlight-00"], scale=1.0)  # 30% opacity, outlines only, no panel
    assert style.opacity == pytest.approx(0.3) and not style.filled
    renderer = OverlayRenderer(style)
    frames = [renderer.composite(frame, np.zeros(21, np.float32)) for frame in gameplay(32, seed=4)]
    where = localize(frames, renderer.template())
    truth = renderer.placement(frames[0].shape[:2])
    assert abs(where.x - truth.x) <= 2 and abs(where.y - truth.y) <= 2 and where.scale == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("name", ["keycaps-fill-11", "playstation-color-21", "minimal-grow-14"])
def test_shipped_parser_reads_held_out_styles(name):
    config = OverlayEvalConfig(styles=(name,), crfs=(28,), scales=(1.0,), frames=40, seed=1, kinds=("iid",))
    results = evaluate_overlays(config)
    (clip,) = results
    total = clip.total
    assert total.button_accuracy >= 0.97, format_evaluation(results)
    assert total.trigger_accuracy >= 0.95, format_evaluation(results)
    assert total.stick_r2 >= 0.9, format_evaluation(results)


def test_eval_command_prints_every_table():
    from nitrogen_envs.cli import cli

    args = ["overlay", "eval", "--style", "xbox-color-04", "--crf", "35", "--scale", "0.5", "--frames", "16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for title in ("Overall", "By H.264 CRF", "By overlay scale", "By style", "By element", "targets:"):
        assert title in result.output
    assert "xbox-color-04" in result.output


def test_clip_thresholds_recover_presses_the_network_reads_low():
    """A subtle press effect: the network separates pressed from released frames, but below 0.5."""
    from nitrogen_datasets.overlay.calibration import calibrate_presses

    rng = np.random.default_rng(0)
    pressed = rng.random(300) < 0.3
    probability = np.where(pressed, rng.uniform(0.2, 0.4, 300), rng.uniform(0.0001, 0.001, 300))
    calibrated = calibrate_presses(np.stack([probability, np.full(300, np.nan)], axis=1))
    assert not (probability >= 0.5).any()  # a fixed threshold reads no press at all
    assert np.array_equal(calibrated[:, 0] == 1.0, pressed)
    assert np.isnan(calibrated[:, 1]).all()  # an element the layout lacks stays NaN


def test_a_rarely_pressed_button_takes_the_split_of_the_whole_overlay():
    """Too few presses for a split of its own, but the overlay's other buttons show where the split lies."""
    from nitrogen_datasets.overlay.calibration import calibrate_presses

    rng = np.random.default_rng(2)
    pressed = rng.random((300, 5)) < 0.3
    pressed[:, 4] = False
    pressed[[40, 200], 4] = True  # two presses in 300 frames: below the 2% a cluster of its own needs
    logits = np.where(pressed, rng.normal(-0.8, 0.5, pressed.shape), rng.normal(-7.5, 0.8, pressed.shape))
    calibrated = calibrate_presses(1 / (1 + np.exp(-logits)))
    assert not (logits[:, 4] >= 0).any()  # at 0.5 the rare presses are lost
    assert np.array_equal(calibrated == 1.0, pressed)


def test_clip_thresholds_do_not_invent_presses_on_an_idle_button():
    from nitrogen_datasets.overlay.calibration import calibrate_presses

    rng = np.random.default_rng(1)
    logits = rng.normal(-6.0, 1.5, size=(600, 3))  # never pressed: one spread-out cluster
    logits[:, 2] = rng.standard_t(2, size=600) - 7.0  # heavy-tailed
    probability = 1 / (1 + np.exp(-logits))
    calibrated = calibrate_presses(probability)
    assert np.array_equal(calibrated == 1.0, probability >= 0.5)  # 0.5 stays the threshold: nothing invented


def test_crop_margin_travels_with_the_weights_and_parsers_without_one_keep_their_boxes(tmp_path):
    from nitrogen_datasets.overlay.crops import element_rect
    from nitrogen_datasets.overlay.learned import LearnedParser
    from nitrogen_datasets.overlay.localize import Localization
    from nitrogen_datasets.overlay.parser_config import ParserNetConfig
    from nitrogen_datasets.overlay.parser_net import ElementNet
    from nitrogen_datasets.overlay.parser_weights import save_parser

    save_parser(ElementNet(ParserNetConfig(button_margin=0.3)), tmp_path / "new")
    new = load_parser(tmp_path / "new")
    assert new.config.button_margin == 0.3
    meta = json.loads((tmp_path / "new" / "parser.json").read_text())
    del meta["net"]["button_margin"]  # written before margins existed
    (tmp_path / "new" / "parser.json").write_text(json.dumps(meta))
    assert load_parser(tmp_path / "new").config.button_margin == 0.0

    renderer = OverlayRenderer(PRESETS["xbox-color-04"])
    layout, template = renderer.layout(), renderer.template()
    where = Localization(40, 30, 1.5, 1.0)
    frames = [np.zeros((360, 640, 3), np.uint8)] * 3
    parser = LearnedParser(layout, where, frames, template, model=new)
    rects = dict(zip(parser.names, parser.rects, strict=True))
    south, stick = layout.elements["south"], layout.elements["left_stick"]
    assert rects["south"] == element_rect(south, where, 0.3)
    assert rects["south"][2] - rects["south"][0] > round(south.w * 1.5) + 2 * round(0.3 * south.w * 1.5) - 2
    assert rects["left_stick"] == element_rect(stick, where, 0.2)
    with pytest.raises(ValueError, match="button_margin"):
        ParserNetConfig(button_margin=0.8)


def test_training_pool_is_filled_chunk_by_chunk_and_each_chunk_renders_new_overlays(monkeypatch):
    """The pool renders in chunks, each with a seed of its own: a chunk renders the same whatever the pool's size
    (so a run repeats), the next chunk renders different overlays, and neighbouring seeds share no chunk."""
    from nitrogen_datasets.overlay import parser_training
    from nitrogen_datasets.overlay.parser_config import ParserNetConfig

    monkeypatch.setattr(parser_training, "_CHUNK_RENDERS", 2)
    net = ParserNetConfig(button_margin=0.3)

    def pool(seed, renders):
        return parser_training.render_pool(seed, renders, net, workers=1, progress=False, desc="")

    first, whole, neighbour = pool(7, 2), pool(7, 4), pool(8, 2)
    head = len(first.kinds)
    for name in ("images", "targets", "kinds"):  # the first chunk lands first, unchanged, in the filled arrays
        assert np.array_equal(getattr(whole, name)[:head], getattr(first, name)), name
    second = whole.images[head:]
    assert len(second) > 0
    for other in (first.images, neighbour.images):  # a chunk seed reused (seed + index, say) would repeat these
        count = min(len(second), len(other))
        assert not np.array_equal(second[:count], other[:count])


def test_a_pool_too_large_for_memory_fails_first(monkeypatch, tmp_path):
    from nitrogen_datasets.overlay import parser_training

    monkeypatch.setattr(parser_training, "_available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"10000 renders need about 1\.9 GiB .* use fewer renders \(--renders\)"):
        train_parser(ParserTrainConfig(renders=10000, workers=1), tmp_path / "parser", progress=False)
    assert not (tmp_path / "parser").exists()  # refused before rendering anything
    from nitrogen_envs.cli import cli

    result = CliRunner().invoke(cli, ["overlay", "train-parser", "--out", str(tmp_path / "p"), "--renders", "10000"])
    assert result.exit_code == 1 and "use fewer renders (--renders)" in result.output, result.output

    def broken(*args, **kwargs):
        raise ValueError("a bug inside training")

    monkeypatch.setattr(parser_training, "render_pool", broken)
    result = CliRunner().invoke(cli, ["overlay", "train-parser", "--out", str(tmp_path / "p"), "--renders", "10"])
    assert isinstance(result.exception, ValueError)  # not turned into a one-line message: the traceback stays


def test_a_parser_config_that_would_allocate_too_much_is_refused(tmp_path) -> None:
    from nitrogen_datasets.overlay.parser_weights import BUNDLED_WEIGHTS, CONFIG_NAME, WEIGHTS_NAME, InvalidParser

    folder = tmp_path / "parser"
    folder.mkdir()
    (folder / WEIGHTS_NAME).write_bytes((BUNDLED_WEIGHTS / WEIGHTS_NAME).read_bytes())
    config = json.loads((BUNDLED_WEIGHTS / CONFIG_NAME).read_text())
    config["net"]["widths"] = [24, 32, 10**7]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(InvalidParser, match="widths"):
        load_parser(folder)


def test_the_reference_frames_read_as_equal_frames_the_parser_never_saw():
    """The parser cuts its reference frames' crops once and reuses them when the same frames come to be parsed
    (extraction parses them too): their readings are those of copies of them."""
    from nitrogen_datasets.overlay.learned import LearnedParser
    from nitrogen_datasets.overlay.localize import Localization

    renderer = OverlayRenderer(PRESETS["xbox-color-04"])
    layout, template = renderer.layout(), renderer.template()
    where = Localization(40, 30, 1.0, 1.0)
    frames = gameplay(8, seed=1)
    reused = list(LearnedParser(layout, where, frames[::2], template).parse_all(frames))
    copies = [frame.copy() for frame in frames]
    fresh = list(LearnedParser(layout, where, frames[::2], template).parse_all(copies))
    assert [parsed.values for parsed in reused] == [parsed.values for parsed in fresh]
    assert [parsed.confidence for parsed in reused] == [parsed.confidence for parsed in fresh]


def test_a_parser_told_another_reader_has_the_sticks_reads_everything_else_the_same():
    """Extraction's knob matcher replaces the parser's sticks, so the parser leaves them out of its network: the
    buttons, triggers and confidence it reads are those of the parser that reads the sticks too (bit for bit),
    the sticks are NaN, and the network sees two crops fewer per frame."""
    from nitrogen_datasets.overlay.learned import LearnedParser
    from nitrogen_datasets.overlay.synthetic import random_action
    from nitrogen_envs import gamepad

    renderer = OverlayRenderer(PRESETS["xbox-color-04"])
    layout, template = renderer.layout(), renderer.template()
    rng = np.random.default_rng(2)
    frames = [renderer.composite(frame, random_action(rng)) for frame in gameplay(20, seed=3)]
    where = renderer.placement(frames[0].shape[:2])
    every = LearnedParser(layout, where, frames, template, press_probabilities=True)
    no_sticks = LearnedParser(layout, where, frames, template, press_probabilities=True, sticks=False)
    assert len(no_sticks.names) == len(every.names) - 2 and "left_stick" not in no_sticks.names
    stick_columns = set(gamepad.STICK_AXES)
    for full, partial in zip(every.parse_all(frames), no_sticks.parse_all(frames), strict=True):
        assert partial.confidence == full.confidence
        for name, value in full.values.items():
            if name in stick_columns:
                assert np.isnan(partial.values[name])
            else:
                assert partial.values[name] == value or (np.isnan(value) and np.isnan(partial.values[name]))


def test_the_training_mix_sets_how_often_samples_press_and_the_default_is_the_shipped_stream():
    """A lower press rate presses a subset of the buttons the same draws press, and moves the sticks the same;
    the default mix is the shipped parser's stream; a rate outside [0, 1] or an even rest count is refused."""
    from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
    from nitrogen_datasets.overlay.parser_config import SampleMix
    from nitrogen_datasets.overlay.synthetic import random_action
    from nitrogen_envs import gamepad

    shipped = np.stack([random_action(np.random.default_rng(seed)) for seed in range(50)])
    rare = np.stack(
        [random_action(np.random.default_rng(seed), press_rate=0.1, trigger_rate=0.2) for seed in range(50)]
    )
    buttons = gamepad.BUTTON_SLICE
    assert np.all(rare[:, buttons] <= shipped[:, buttons]) and rare[:, buttons].sum() < shipped[:, buttons].sum()
    assert np.array_equal(rare[:, :4], shipped[:, :4])  # the sticks: the same draws
    default = ElementSampler(seed=3).sample(3)
    explicit = ElementSampler(seed=3, mix=SampleMix()).sample(3)
    assert np.array_equal(default.images, explicit.images) and np.array_equal(default.targets, explicit.targets)
    sparse = ElementSampler(seed=3, mix=SampleMix(press_rate=0.0, trigger_rate=0.0, rest_frames=(5,))).sample(3)
    assert not sparse.targets[sparse.kinds == 0, 0].any() and not sparse.targets[sparse.kinds == 1, 1].any()
    assert default.targets[default.kinds == 0, 0].any()
    for bad in ({"press_rate": 1.5}, {"trigger_rate": -0.1}, {"rest_frames": (2,)}, {"rest_frames": ()}):
        with pytest.raises(InvalidOverlayConfig):
            SampleMix(**bad)
    with pytest.raises(InvalidOverlayConfig, match="press_rate"):
        ParserTrainConfig(mix=SampleMix(press_rate=2.0))
