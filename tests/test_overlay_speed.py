"""What makes extraction fast must not change what it reads: region-only RGB, the split first layer, the probe."""

import io
import threading

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
av = pytest.importorskip("av")
pq = pytest.importorskip("pyarrow.parquet")
torch = pytest.importorskip("torch")

from fixtures.overlay_factories import decoded, gameplay, random_actions  # noqa: E402

from nitrogen_datasets.overlay.crops import crop_resized, element_rect  # noqa: E402
from nitrogen_datasets.overlay.extract import ExtractConfig, extract, spread_indices  # noqa: E402
from nitrogen_datasets.overlay.layout import load_layout  # noqa: E402
from nitrogen_datasets.overlay.learned import LearnedParser  # noqa: E402
from nitrogen_datasets.overlay.localize import Localization, localize, median_frames, probe_sample  # noqa: E402
from nitrogen_datasets.overlay.parse import ReferenceParser, frame_box  # noqa: E402
from nitrogen_datasets.overlay.parser_config import BUTTON_MARGIN, FRAME_CHANNELS, STICK_MARGIN  # noqa: E402
from nitrogen_datasets.overlay.parser_net import decode_outputs, to_inputs  # noqa: E402
from nitrogen_datasets.overlay.parser_weights import load_parser  # noqa: E402
from nitrogen_datasets.overlay.region import RegionRGB, overlay_region  # noqa: E402
from nitrogen_datasets.overlay.styles import OverlayStyle, preset_styles  # noqa: E402
from nitrogen_datasets.overlay.video import render_overlay_video  # noqa: E402
from nitrogen_envs import gamepad  # noqa: E402


def encoded(width, height, pix_fmt, frames=3):
    """A small H.264 clip of noise in ``pix_fmt`` (yuvj420p is full range), in memory."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(width)
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for _ in range(frames):
            image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("width", "height", "pix_fmt"),
    [
        (320, 240, "yuv420p"),
        (322, 182, "yuvj420p"),
        (322, 182, "yuv422p"),
        (320, 240, "yuvj422p"),
        (320, 240, "yuv444p"),
        (322, 182, "yuvj444p"),
        (322, 182, "yuv444p10le"),
        (320, 240, "yuv420p10le"),  # not cropped (PLANAR_YUV says why): the whole-frame path, equal by construction
    ],
)
def test_region_rgb_equals_cropping_the_whole_frame_conversion(width, height, pix_fmt):
    regions = [(0, 0, width, height), (10, 6, 102, 58), (width - 52, height - 32, width, height), (0, 0, 2, 2)]
    with av.open(encoded(width, height, pix_fmt)) as container:
        for frame in container.decode(video=0):
            assert frame.format.name == pix_fmt
            whole = frame.to_ndarray(format="rgb24")
            for x0, y0, x1, y1 in regions:
                np.testing.assert_array_equal(RegionRGB((x0, y0, x1, y1))(frame), whole[y0:y1, x0:x1])


def test_overlay_region_holds_every_crop_a_parser_reads_with_even_corners(tmp_path):
    style = OverlayStyle(**{**preset_styles()[3].__dict__, "scale": 1.3, "position": (1.0, 1.0)})
    clip = render_overlay_video(gameplay(2, size=(360, 640)), random_actions(2), style, tmp_path / "c.mp4")
    layout, template = load_layout(clip.layout)
    for where in (localize(decoded(clip.video), template), Localization(-7, 3, 0.9, 1.0), Localization(5, 5, 2.0, 1.0)):
        x0, y0, x1, y1 = overlay_region(layout, where, (360, 640), template)
        assert x0 % 2 == y0 % 2 == x1 % 2 == y1 % 2 == 0
        assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360
        for name, box in layout.elements.items():
            reference = frame_box(box, where, ReferenceParser.margin(name))
            for rect in (reference, element_rect(box, where, STICK_MARGIN), element_rect(box, where, BUTTON_MARGIN)):
                # Inside the region, or outside the frame (read as zeros either way).
                assert max(0, rect[0]) >= x0 and max(0, rect[1]) >= y0
                assert min(640, rect[2]) <= x1 and min(360, rect[3]) <= y1


def test_median_frames_is_numpys_median():
    rng = np.random.default_rng(0)
    for shape in [(9, 7, 3), (45, 1300, 3), (37, 2000)]:  # one block of rows (MEDIAN_BLOCK_BYTES); several
        for count in range(1, 11):
            frames = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)]
            expected = np.median(np.stack(frames), axis=0).astype(np.uint8)
            np.testing.assert_array_equal(median_frames(frames), expected)


def test_median_crops_are_numpys_median_of_each_crop():
    from nitrogen_datasets.overlay.crops import crop_resized
    from nitrogen_datasets.overlay.learned import _median_crops

    rng = np.random.default_rng(1)
    rects = [(0, 0, 40, 40), (50, 10, 62, 24), (-5, -5, 20, 20), (180, 100, 230, 140)]  # shrunk, grown, past edges
    for count in (1, 2, 9, 64):
        frames = [rng.integers(0, 256, (120, 200, 3), dtype=np.uint8) for _ in range(count)]
        expected = [
            np.median(np.stack([crop_resized(f, r, 32) for f in frames]), axis=0).astype(np.uint8) for r in rects
        ]
        np.testing.assert_array_equal(_median_crops(frames, rects, 32), np.stack(expected))


def test_split_first_layer_equals_the_full_network():
    model = load_parser()
    rng = np.random.default_rng(1)
    elements, frames = 5, 3
    static = rng.integers(0, 256, (elements, 32, 32, 7), dtype=np.uint8)
    crops = rng.integers(0, 256, (frames * elements, 32, 32, FRAME_CHANNELS), dtype=np.uint8)
    kinds = torch.tensor([0, 1, 2, 0, 2])
    with torch.inference_mode():
        full = model(
            to_inputs(torch.from_numpy(np.concatenate([crops, np.tile(static, (frames, 1, 1, 1))], 3))),
            kinds.repeat(frames),
        )
        constant = model.constant_terms(to_inputs(torch.from_numpy(static)), kinds)
        split = model.forward_frames(to_inputs(torch.from_numpy(crops)), constant)
    torch.testing.assert_close(decode_outputs(split), decode_outputs(full), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speed")
    style = OverlayStyle(**{**preset_styles()[13].__dict__, "opacity": 0.9, "scale": 1.1, "position": (0.95, 0.1)})
    return render_overlay_video(
        gameplay(150, size=(360, 640), seed=2), random_actions(150, seed=3), style, folder / "c.mp4"
    )


@pytest.fixture(scope="module")
def strong_clip(tmp_path_factory):
    """Like ``clip`` in a style whose intensity match is strong (0.80 against ``clip``'s 0.65): localization needs
    nothing but the first frames (a match below ``min_score`` + ``localize.BAND_MARGIN`` also reads the edge probe)."""
    folder = tmp_path_factory.mktemp("speed-strong")
    style = OverlayStyle(**{**preset_styles()[12].__dict__, "opacity": 0.9, "scale": 1.1, "position": (0.95, 0.1)})
    return render_overlay_video(
        gameplay(150, size=(360, 640), seed=2), random_actions(150, seed=3), style, folder / "c.mp4"
    )


def moves_when_shifted(layout, where, frame_size, template):
    """Whether rounding a box after shifting it to the region's coordinates lands it a pixel off, for some box."""
    x0, y0, _, _ = overlay_region(layout, where, frame_size, template)
    shifted = Localization(where.x - x0, where.y - y0, where.scale, where.score)
    return any(frame_box(box, where)[0] - x0 != frame_box(box, shifted)[0] for box in layout.elements.values())


def half_pixel_placement(layout, near, frame_size, template):
    """A placement near ``near`` at a scale just under 0.5, where boxes land on x.5 in frame pixels and floating
    point rounds ``where.x + v`` and ``where.x - x0 + v`` to different pixels for some box."""
    for scale in (0.4999999999999999, float(np.nextafter(0.5, 0.0))):
        for dx in range(64):
            where = Localization(near.x + dx, near.y, scale, near.score)
            if moves_when_shifted(layout, where, frame_size, template):
                return where
    raise AssertionError("no half-pixel placement found near the localized one")


@pytest.mark.parametrize("method", ["learned", "reference"])
@pytest.mark.parametrize("placement", ["localized", "half-pixel"])
def test_parsers_read_the_region_as_they_read_the_whole_frame(clip, method, placement):
    layout, template = load_layout(clip.layout)
    frames = decoded(clip.video)[:40]
    where = localize(frames, template)
    if placement == "half-pixel":
        where = half_pixel_placement(layout, where, frames[0].shape[:2], template)
    x0, y0, x1, y1 = overlay_region(layout, where, frames[0].shape[:2], template)
    regions = [frame[y0:y1, x0:x1] for frame in frames]
    make = LearnedParser if method == "learned" else ReferenceParser
    whole = list(make(layout, where, frames, template).parse_all(frames))
    region = list(make(layout, where, regions, template, origin=(x0, y0)).parse_all(regions))
    for a, b in zip(whole, region, strict=True):
        assert a.confidence == b.confidence
        assert a.values.keys() == b.values.keys()
        np.testing.assert_array_equal(list(a.values.values()), list(b.values.values()))


def test_streamed_extraction_reads_what_whole_frames_read(clip, tmp_path):
    """extract (region-only RGB, split first layer, sparse probe) against the plain way: whole RGB frames,
    the probe's frames all held, the 10-channel network on every crop."""
    before = torch.get_num_threads()
    # The parser's own stick readings (sticks="parser"): what is compared here is the network, run two ways.
    result = extract(clip.video, clip.layout, tmp_path / "a.parquet", config=ExtractConfig(sticks="parser"))
    assert torch.get_num_threads() == before  # the parser's thread setting is restored
    table = pq.read_table(result.actions)
    got = np.stack([table.column(name).to_numpy() for name in gamepad.FLAT_NAMES], axis=1)

    layout, template = load_layout(clip.layout)
    frames = decoded(clip.video)
    probe = frames[: ExtractConfig().probe_frames]
    where = localize(probe, template)
    assert result.localization == where
    reference = [probe[i] for i in spread_indices(len(probe), 64)]
    assert len(reference) == 64  # the rest image is the median of 64 frames spread over the first 120
    parser = LearnedParser(layout, where, reference, template)
    size, n = parser.model.config.crop, len(parser.names)
    crops = np.stack([[crop_resized(frame, rect, size) for rect in parser.rects] for frame in frames])
    images = np.concatenate([crops.reshape(-1, size, size, 3), np.tile(parser.static, (len(frames), 1, 1, 1))], 3)
    with torch.inference_mode():
        model = load_parser()
        out = decode_outputs(model(to_inputs(torch.from_numpy(images)), parser.kind_tensor.repeat(len(frames))))
    out = out.numpy().reshape(len(frames), n, 4)
    for element, name in enumerate(parser.names):
        kind = parser.kinds[element]
        if kind == 0:
            np.testing.assert_array_equal(got[:, gamepad.FLAT_NAMES.index(name)], out[:, element, 0] >= 0.5)
        elif kind == 1:
            np.testing.assert_allclose(got[:, gamepad.FLAT_NAMES.index(name)], out[:, element, 1], atol=1e-5)
        else:
            x_name, y_name = ("left_x", "left_y") if name == "left_stick" else ("right_x", "right_y")
            np.testing.assert_allclose(got[:, gamepad.FLAT_NAMES.index(x_name)], out[:, element, 2], atol=1e-5)
            np.testing.assert_allclose(got[:, gamepad.FLAT_NAMES.index(y_name)], out[:, element, 3], atol=1e-5)


def test_the_parsers_network_runs_a_batch_ahead_on_a_worker_and_reads_as_on_one_thread(clip):
    """parse_all hands each batch's crops to a worker thread before the caller takes the batch before (extraction
    reads those frames' sticks meanwhile); the readings equal one frame at a time on the caller's thread, a last
    short batch included, and a parse closed early leaves no worker behind."""
    layout, template = load_layout(clip.layout)
    frames = decoded(clip.video)[:11]  # batches of 4, 4 and 3
    where = localize(frames, template)
    parser = LearnedParser(layout, where, frames[:5], template, batch_frames=4)
    network, cut, threads, batches_cut_at = parser._network, parser._crops, [], []

    def recorded(crops, count):
        threads.append(threading.current_thread().name)
        return network(crops, count)

    def counted(batch):
        batches_cut_at.append(len(batches_cut_at))
        return cut(batch)

    parser._network, parser._crops = recorded, counted
    readings, cut_when_read = [], []
    for reading in parser.parse_all(frames):
        cut_when_read.append(len(batches_cut_at))
        readings.append(reading)
    assert len(threads) == 3 and all(name.startswith("nitrogen-parser") for name in threads)
    assert cut_when_read[:4] == [2, 2, 2, 2]  # the second batch went to the worker before the first was read
    one_by_one = [parser._parse_batch([frame])[0] for frame in frames]
    assert [r.values for r in readings] == [r.values for r in one_by_one]
    assert [r.confidence for r in readings] == [r.confidence for r in one_by_one]

    stream = parser.parse_all(frames)
    next(stream)
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("nitrogen-parser")]


def test_an_error_in_the_parsers_worker_surfaces_with_its_traceback_and_the_worker_ends(clip):
    import traceback

    layout, template = load_layout(clip.layout)
    frames = decoded(clip.video)[:11]
    parser = LearnedParser(layout, localize(frames, template), frames[:5], template, batch_frames=4)
    network, calls = parser._network, []

    def broken_network(crops, count):
        calls.append(count)
        if len(calls) == 2:
            raise FloatingPointError("network broke on the second batch")
        return network(crops, count)

    parser._network = broken_network
    readings = []
    with pytest.raises(FloatingPointError, match="second batch") as raised:
        readings.extend(parser.parse_all(frames))
    assert len(readings) == 4  # the first batch's readings came out before the error
    assert "broken_network" in "".join(traceback.format_tb(raised.value.__traceback__))
    assert not [t for t in threading.enumerate() if t.name.startswith("nitrogen-parser")]


def test_extract_decodes_each_frame_once_and_a_faint_overlay_rereads_only_the_probe(
    strong_clip, clip, tmp_path, monkeypatch
):
    """The frames localization reads stay decoded for the main pass; only the edge probe (a faint overlay, or an
    intensity match too weak to stand alone) decodes the start again, and it reads the same actions."""
    from nitrogen_datasets.overlay import decode as decode_module
    from nitrogen_datasets.overlay import extract as extract_module

    decode, real_localize = decode_module.decode_frames, extract_module.localize
    decoded_frames = []  # frames each decoder read, one entry per decoder

    def counting_decode(path):
        decoded_frames.append(0)
        for item in decode(path):
            decoded_frames[-1] += 1
            yield item

    monkeypatch.setattr(decode_module, "decode_frames", counting_decode)
    clear = extract(strong_clip.video, strong_clip.layout, tmp_path / "clear.parquet")
    assert decoded_frames == [clear.frames] and clear.frames == 150
    probe_frames = ExtractConfig().probe_frames
    first_frames = len(probe_sample(probe_frames)[0])

    decoded_frames.clear()
    weak = extract(clip.video, clip.layout, tmp_path / "weak.parquet")  # intensity 0.65: static edges must agree
    assert decoded_frames == [first_frames, probe_frames, 150] and weak.frames == 150

    def faint_localize(frames, template, min_score, edge_frames):
        edges = edge_frames()  # what the fallback reads when intensity matching fails
        assert len(edges) == 16 and edges[0].shape == frames[0].shape
        return real_localize(frames, template, min_score)

    decoded_frames.clear()
    monkeypatch.setattr(extract_module, "localize", faint_localize)
    faint = extract(strong_clip.video, strong_clip.layout, tmp_path / "faint.parquet")
    # The first decoder stops after the frames intensity matching reads; the edge reader reads the probe; the main
    # pass decodes every frame once, from the first.
    assert decoded_frames == [first_frames, probe_frames, 150]
    assert pq.read_table(faint.actions).equals(pq.read_table(clear.actions))


def test_the_coarse_pass_scores_by_sums_as_opencvs_masked_matching_does(strong_clip):
    """The intensity pass's coarse scores (three plain correlations) against OpenCV's masked matching, which the
    fine pass and every acceptance score keep: the same best placement at every coarse scale, scores within 1e-3
    everywhere, and 0 in a flat window (a letterbox bar), where OpenCV's scores about 1e-9."""
    from nitrogen_datasets.overlay import localize as loc

    _, template = load_layout(strong_clip.layout)
    grey = cv2.cvtColor(median_frames(decoded(strong_clip.video)[: loc.MEDIAN_FRAMES]), cv2.COLOR_RGB2GRAY)
    grey[:, :160] = 0  # a black bar down the left side (the overlay is at the right)
    template_grey, mask = loc._prepare_template(template)
    intensity = loc._Model(template_grey, mask)
    summed = loc.SummedImage(grey)
    compared = bars = 0
    for scale in np.geomspace(0.3, 1.2, 8):
        by_sums = loc._correlations_by_sums(summed, intensity, scale)
        masked = loc._correlations(grey, intensity, scale)
        if masked is None:
            assert by_sums is None
            continue
        compared += 1
        assert by_sums.shape == masked.shape and by_sums.dtype == np.float32
        assert loc._peak(by_sums)[1:] == loc._peak(masked)[1:]
        real = masked > -1
        np.testing.assert_allclose(by_sums[real], masked[real], atol=1e-3)
        inside_bar = 160 - round(template_grey.shape[1] * scale) + 1  # windows wholly inside the bar
        bars += inside_bar > 0
        assert (by_sums[:, : max(0, inside_bar)] == 0).all()
    assert compared >= 6 and bars >= 4
    coarse = loc._coarse(grey, intensity, 0.5)
    for (score, x, y, scale), (sum_score, sum_x, sum_y, sum_scale) in zip(
        coarse, loc._coarse(grey, intensity, 0.5, by_sums=True), strict=True
    ):
        assert (x, y, scale) == (sum_x, sum_y, sum_scale) and sum_score == pytest.approx(score, abs=1e-3)


def test_spread_indices_cover_the_range_evenly():
    assert spread_indices(48, 64) == list(range(48))
    picked = spread_indices(120, 64)
    assert len(picked) == 64 and picked[0] == 0 and picked[-1] == 119
    assert max(np.diff(picked)) <= 2
    assert spread_indices(5, 1) == [0]


def test_an_extraction_reports_where_its_time_went(strong_clip, tmp_path):
    """The per-clip stages (what a short clip pays once) and the parse, as the benchmark and the log report them."""
    import time

    started = time.perf_counter()
    result = extract(strong_clip.video, strong_clip.layout, tmp_path / "a.parquet")
    wall = time.perf_counter() - started
    assert list(result.seconds) == ["locate", "first_frames", "setup", "parse"]
    assert all(value >= 0 for value in result.seconds.values()) and sum(result.seconds.values()) <= wall
