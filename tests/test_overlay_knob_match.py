"""Sticks read by matching the layout's own knob sprite (knob_match): sprite art no parser trained on."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("av")

from nitrogen_datasets.overlay.errors import InvalidOverlayConfig
from nitrogen_datasets.overlay.extract import ExtractConfig, read_actions
from nitrogen_datasets.overlay.knob_match import (
    KnobMatchConfig,
    KnobTrack,
    MaskedPatches,
    StickMatcher,
    feature_images,
    masked_ncc,
)
from nitrogen_datasets.overlay.layout import Box
from nitrogen_datasets.overlay.localize import Localization
from nitrogen_datasets.overlay.sprite_styles import sprite_style
from nitrogen_datasets.overlay.synthetic import scrolling_scenes
from nitrogen_datasets.overlay.video import render_overlay_video
from nitrogen_envs import gamepad

FRAMES = 40
STICK_COLUMNS = [gamepad.FLAT_NAMES.index(axis) for axis in gamepad.STICK_AXES]
# A sticker-drawn Xbox pad at 61% opacity whose knob recolours when the stick is clicked (L3/R3); its knob
# sprite is larger than the knob's travel, as every sprite style's is.
STYLE = "sprite-xbox-5"


def _sweeps(frames: int) -> np.ndarray:
    """Both sticks circling at different speeds (one reaching the rim), thumbs clicked for a stretch."""
    actions = np.stack([gamepad.noop_flat() for _ in range(frames)]).astype(np.float32)
    t = np.linspace(0.0, 2.0 * np.pi, frames)
    column = {name: index for index, name in enumerate(gamepad.FLAT_NAMES)}
    actions[:, column["left_x"]], actions[:, column["left_y"]] = np.cos(t), np.sin(t)
    actions[:, column["right_x"]], actions[:, column["right_y"]] = 0.6 * np.sin(2 * t), -0.5 * np.cos(t)
    actions[frames // 3 : frames // 2, column["left_thumb"]] = 1.0
    actions[frames // 2 :, column["right_thumb"]] = 1.0
    return actions


def _render(folder, actions: np.ndarray, scale: float):
    style = replace(sprite_style(STYLE), scale=scale)
    return render_overlay_video(
        scrolling_scenes(3, len(actions), (360, 640)), actions, style, folder / "clip.mp4", crf=28
    )


def _read(clip, sticks: str = "knob") -> np.ndarray:
    return read_actions(clip.video, clip.layout, ExtractConfig(method="reference", sticks=sticks)).actions


@pytest.fixture(scope="module")
def sweep_clip(tmp_path_factory):
    """The sweeping clip at scale 1.5, rendered once for the tests that read it."""
    return _render(tmp_path_factory.mktemp("sweep"), _sweeps(FRAMES), 1.5)


def _r2(truth: np.ndarray, got: np.ndarray) -> float:
    return float(1.0 - ((truth - got) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())


@pytest.mark.parametrize("scale", [0.75, 1.5])
def test_sweeping_sticks_read_back_from_a_sprite_clip(tmp_path, sweep_clip, scale):
    truth = _sweeps(FRAMES)
    got = _read(sweep_clip if scale == 1.5 else _render(tmp_path, truth, scale))
    assert _r2(truth[:, STICK_COLUMNS], got[:, STICK_COLUMNS]) >= 0.97


def test_centred_sticks_read_centred(tmp_path):
    idle = np.stack([gamepad.noop_flat() for _ in range(FRAMES)]).astype(np.float32)
    got = _read(_render(tmp_path, idle, 1.0))
    assert np.abs(got[:, STICK_COLUMNS]).max() <= 0.06


def test_sticks_option_keeps_the_parsers_readings_and_refuses_unknown_readers(sweep_clip):
    truth = _sweeps(FRAMES)
    knob, parser = _read(sweep_clip), _read(sweep_clip, sticks="parser")
    others = [i for i in range(gamepad.FLAT_SIZE) if i not in STICK_COLUMNS]
    np.testing.assert_array_equal(knob[:, others], parser[:, others])  # buttons and triggers unchanged
    # The reference parser's own stick reading misses this art; the knob matcher does not.
    assert _r2(truth[:, STICK_COLUMNS], knob[:, STICK_COLUMNS]) > _r2(truth[:, STICK_COLUMNS], parser[:, STICK_COLUMNS])
    with pytest.raises(InvalidOverlayConfig, match="sticks must be one of"):
        ExtractConfig(sticks="hough")
    with pytest.raises(InvalidOverlayConfig, match="feature must be one of"):
        KnobMatchConfig(feature="colour")


def test_an_error_on_the_parsers_thread_surfaces_with_its_traceback_and_the_thread_ends(sweep_clip, monkeypatch):
    import threading
    import traceback

    from nitrogen_datasets.overlay.parse import ReferenceParser

    real = ReferenceParser.parse_all

    def failing_parse_all(self, frames):
        for index, parsed in enumerate(real(self, frames)):
            if index == 25:
                raise FloatingPointError("parser broke on frame 25")
            yield parsed

    monkeypatch.setattr(ReferenceParser, "parse_all", failing_parse_all)
    with pytest.raises(FloatingPointError, match="frame 25") as raised:
        _read(sweep_clip)  # the parser and the knob matcher run on the calling thread, decoding on another
    assert "failing_parse_all" in "".join(traceback.format_tb(raised.value.__traceback__))
    assert not any(t.name in ("nitrogen-parse", "nitrogen-decode") and t.is_alive() for t in threading.enumerate())


def _pad(knob_x: float, knob_y: float, size: int = 120) -> np.ndarray:
    """A drawn pad: a dark base disc (radius 40) and a bright knob (radius 16, larger than its travel 10) at a
    sub-pixel centre, supersampled 8x."""
    import cv2

    big = np.full((size * 8, size * 8, 3), 40, np.uint8)
    cv2.circle(big, (size * 4, size * 4), 40 * 8, (90, 90, 120), -1)
    center = (round(knob_x * 8), round(knob_y * 8))
    cv2.circle(big, center, 16 * 8, (230, 200, 60), -1)
    cv2.circle(big, center, 6 * 8, (120, 100, 30), -1)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("offset", [(0.0, 0.0), (3.25, -2.5), (-10.0, 0.0), (7.0, 7.0)])
def test_the_knob_is_found_to_a_fraction_of_a_pixel(offset):
    box = Box(50.0, 50.0, 20.0, 20.0)  # the knob's centre sweeps 60 +- 10
    matcher = StickMatcher(box, Localization(0, 0, 1.0, 1.0), _pad(60.0, 60.0))
    x, y, _ = matcher.read(_pad(60.0 + offset[0], 60.0 + offset[1]))
    assert x == pytest.approx(offset[0] / 10.0, abs=0.03) and y == pytest.approx(-offset[1] / 10.0, abs=0.03)


def test_the_features_matching_runs_on_are_the_same_bits_on_every_call():
    """Extraction reads a video the same way every run. The edge magnitude knob matching and localization use came
    from ``cv2.magnitude``, which rounded some pixels one way or the other from call to call on the same input (its
    result depends on where its buffers lie), so knob readings differed by up to 1e-7 between runs."""
    pad = _pad(63.25, 57.5)
    for image in (pad, pad[20:49, 30:59]):  # a frame, and a knob's search region
        calls = {b"".join(f.tobytes() for f in feature_images(image, KnobMatchConfig())) for _ in range(300)}
        assert len(calls) == 1


def test_a_knob_the_video_does_not_show_reads_centred():
    """Frames of noise where the pad should be: no placement matches, so the stick reads 0, not the noise's peak."""
    rng = np.random.default_rng(3)
    box = Box(50.0, 50.0, 20.0, 20.0)
    noise = [rng.integers(0, 255, (120, 120, 3), dtype=np.uint8) for _ in range(8)]
    lost = StickMatcher(box, Localization(0, 0, 1.0, 1.0), _pad(60.0, 60.0))
    lost.choose(noise)
    assert not lost.visible and lost.read(noise[0])[:2] == (0.0, 0.0)
    seen = StickMatcher(box, Localization(0, 0, 1.0, 1.0), _pad(60.0, 60.0))
    seen.choose([_pad(60.0 + dx, 60.0) for dx in (-8.0, 0.0, 5.0)])
    assert seen.visible and seen.read(_pad(65.0, 60.0))[0] == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("side", [7, 11, 23, 41])  # both ways of summing under the mask (direct up to 11 px)
def test_masked_ncc_is_opencvs_masked_normalized_correlation(side):
    import cv2

    rng = np.random.default_rng(side)
    images = [
        cv2.GaussianBlur(rng.random((side + 19, side + 23), dtype=np.float32) * 255, (0, 0), 1.5) for _ in range(2)
    ]
    yy, xx = np.mgrid[0:side, 0:side]
    mask = (np.hypot(yy - side / 2 + 0.5, xx - side / 2 + 0.5) <= side / 2).astype(np.float32)
    patches = [image[5 : 5 + side, 7 : 7 + side].copy() for image in images]
    got = masked_ncc(images, MaskedPatches.prepare(patches, mask))
    for image, patch, score in zip(images, patches, got, strict=True):
        expected = cv2.matchTemplate(image, patch, cv2.TM_CCOEFF_NORMED, mask=mask)
        np.testing.assert_allclose(score, expected, atol=1e-3)
        assert np.unravel_index(score.argmax(), score.shape) == (5, 7)  # the patch is found where it was cut
    flat = masked_ncc([np.full_like(images[0], 80.0)], MaskedPatches.prepare(patches[:1], mask))[0]
    assert (flat == -1.0).all()  # nothing to correlate with: the worst score, as NaN read before


def _brute_force_path(maps: list[np.ndarray], free: int, jump: float) -> list[tuple[int, int]]:
    """The best path by plain Viterbi over every pair of placements (what KnobTrack computes more cheaply)."""
    h, w = maps[0].shape
    yy, xx = np.divmod(np.arange(h * w), w)
    far = np.maximum(np.abs(xx[:, None] - xx[None, :]), np.abs(yy[:, None] - yy[None, :])) > free
    cost = np.where(far, jump, 0.0)
    total, backs = maps[0].ravel().astype(np.float64), []
    for result in maps[1:]:
        moved = total[:, None] - cost
        backs.append(moved.argmax(axis=0))
        total = moved.max(axis=0) + result.ravel()
    index = int(total.argmax())
    path = [index]
    for back in reversed(backs):
        index = int(back[index])
        path.append(index)
    return [(i % w, i // w) for i in reversed(path)]


def _decided(track: KnobTrack, maps: list[np.ndarray]) -> list[tuple[int, int]]:
    out = [decided for result in maps for decided in track.push(result)] + track.flush()
    assert [id(result) for result, _, _ in out] == [id(result) for result in maps]  # each frame once, in order
    return [(px, py) for _, px, py in out]


@pytest.mark.parametrize(("free", "jump"), [(0, 0.2), (1, 0.3), (2, 0.6)])
def test_the_track_reads_the_best_path_through_the_score_maps(free, jump):
    rng = np.random.default_rng(7)
    maps = [rng.random((5, 6)).astype(np.float32) for _ in range(9)]
    assert _decided(KnobTrack(free, jump, lag=20), maps) == _brute_force_path(maps, free, jump)
    # Without a cost to move, every frame reads its own best placement, decided as late as asked or not at all.
    own = [(int(m.argmax() % 6), int(m.argmax() // 6)) for m in maps]
    assert _decided(KnobTrack(free, 0.0, lag=3), maps) == own


def _drifting(frames: int, every: int, look_alike_at: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Score maps of a knob drifting right a placement every ``every`` frames, and on frame ``look_alike_at`` a
    brighter look-alike far away (a game sprite crossing); and the knob's placements."""
    maps = []
    for t in range(frames):
        result = np.full((9, 9), 0.1, np.float32)
        result[4, 2 + t // every] = 0.8
        if t == look_alike_at:
            result[0, 8] = 0.95
        maps.append(result)
    return maps, [(2 + t // every, 4) for t in range(frames)]


def test_the_track_is_not_drawn_to_a_look_alike_for_one_frame():
    maps, knob = _drifting(12, every=3, look_alike_at=6)
    assert _decided(KnobTrack(1, 0.3, lag=4), maps) == knob
    assert _decided(KnobTrack(1, 0.0, lag=4), maps)[6] == (8, 0)  # read frame by frame, the look-alike wins


def _flicking(frames: int, seed: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """Score maps of a knob at an independent random place every frame, and a still look-alike at (4, 4)."""
    rng = np.random.default_rng(seed)
    maps, knob = [], []
    for _ in range(frames):
        result = np.full((9, 9), 0.1, np.float32)
        result[4, 4] = 0.7
        x, y = (int(v) for v in rng.choice([0, 1, 7, 8], size=2))
        result[y, x] = 0.9
        maps.append(result)
        knob.append((x, y))
    return maps, knob


def test_a_knob_that_jumps_every_frame_is_read_where_it_is_not_on_a_still_look_alike():
    """A stick flicked between frames (or a clip of independent actions) breaks the smooth-play prior: with a
    fixed jump cost the path sits on the look-alike, which never pays to move; the track sees that clear
    sightings jump almost every frame and stops charging for it."""
    maps, knob = _flicking(40, seed=3)
    assert _decided(KnobTrack(1, 0.3, lag=5, clear=0.5), maps) == knob
    fixed = _decided(KnobTrack(1, 0.3, lag=5), maps)
    assert sum(place == (4, 4) for place in fixed) > 20


def test_the_adaptive_track_still_ignores_a_one_frame_look_alike():
    maps, knob = _drifting(30, every=6, look_alike_at=20)
    assert _decided(KnobTrack(1, 0.3, lag=4, clear=0.5), maps) == knob


def test_a_peaks_only_track_reads_a_long_move_in_full_not_at_the_edge_of_the_free_window():
    """The knob moves 6 placements in one frame; its match falls off smoothly around it, so placements on its
    slope within the free window score nearly as well and cost nothing to reach: the path creeps after it."""
    h = w = 11
    yy, xx = np.mgrid[0:h, 0:w]

    def blob(x: int, y: int) -> np.ndarray:
        return (0.9 - 0.05 * np.maximum(np.abs(xx - x), np.abs(yy - y))).astype(np.float32)

    maps = [blob(2, 5)] * 5 + [blob(8, 5)] * 5
    assert _decided(KnobTrack(2, 0.3, lag=3), maps)[5] != (8, 5)
    assert _decided(KnobTrack(2, 0.3, lag=3, peaks=True), maps) == [(2, 5)] * 5 + [(8, 5)] * 5


@pytest.mark.parametrize("max_outside", [0.25, 1.0])
def test_a_candidate_that_leaves_the_sweep_box_is_not_chosen_as_the_knob(max_outside):
    """An idle stick: the knob's rim matches at rest in every frame, while a small ring inside it matches a
    look-alike that wanders outside the sweep box. The most mobile candidate used to win (an idle stick that
    reads off in every frame); the knob never leaves its box, so that candidate is dropped."""
    box = Box(50.0, 50.0, 20.0, 20.0)  # travel 10
    matcher = StickMatcher(
        box, Localization(0, 0, 1.0, 1.0), _pad(60.0, 60.0), KnobMatchConfig(max_outside=max_outside)
    )
    assert len(matcher.knobs) >= 2
    wander = [(13, 0), (-13, 5), (0, -13), (13, 12), (-12, 13), (13, -6)]  # beyond travel 10 + slack 2

    def score_map(frame: np.ndarray, which: int | None = None) -> np.ndarray:
        index = matcher.choice if which is None else which
        knob = matcher.knobs[index]
        shape = StickMatcher.score_map(matcher, frame, index).shape
        scores = np.zeros(shape, np.float32)
        if index == 0:  # the smallest ring: a look-alike outside the box
            dx, dy = wander[int(frame[0, 0, 0]) % len(wander)]
            scores[knob.rest[1] + dy, knob.rest[0] + dx] = 0.8
        elif index == len(matcher.knobs) - 1:  # the knob's rim, at rest
            scores[knob.rest[1], knob.rest[0]] = 0.9
        return scores

    matcher.score_map = score_map  # type: ignore[method-assign]
    frames = [np.full((120, 120, 3), i, np.uint8) for i in range(12)]
    matcher.choose(frames)
    assert matcher.outside[0] == 1.0 and matcher.outside[-1] == 0.0
    assert matcher.choice == (len(matcher.knobs) - 1 if max_outside < 1 else 0)
