"""Overlay evaluation clips that play like people: measured statistics, replayed; held and idle clips."""

from __future__ import annotations

import numpy as np
import pytest

from nitrogen_datasets.overlay.action_sequences import (
    CLIP_KINDS,
    DEFAULT_KINDS,
    PRESS_ELEMENTS,
    UnknownClipKind,
    clip_actions,
    play_sequence,
)
from nitrogen_datasets.overlay.eval_report import format_evaluation
from nitrogen_datasets.overlay.evaluate import OverlayEvalConfig, evaluate_overlays
from nitrogen_datasets.overlay.play_stats import (
    PlayStatistics,
    load_play_statistics,
    measure_play,
)
from nitrogen_envs import gamepad

FPS = 30
SOUTH = gamepad.FLAT_NAMES.index("south")


@pytest.fixture(scope="module")
def shipped() -> PlayStatistics:
    return load_play_statistics()


@pytest.fixture(scope="module")
def replayed(shipped) -> PlayStatistics:
    """The shipped statistics measured again on 80 generated eight-second play clips."""
    rng = np.random.default_rng(0)
    return measure_play((play_sequence(shipped, 240, FPS, rng), FPS) for _ in range(80))


def test_shipped_table_says_where_it_comes_from(shipped):
    assert "experiments/overlay_play_stats.sh" in shipped.source
    assert len(shipped.games) >= 5 and shipped.frames >= 3000
    assert shipped.press_hold.count >= 100 and shipped.stick_rest.count >= 50


def test_measure_play_counts_interior_holds_gaps_and_idle_stretches():
    actions = np.zeros((10, gamepad.FLAT_SIZE), np.float32)
    actions[[2, 3, 4, 7, 8], SOUTH] = 1.0  # two presses: 3 and 2 frames, 2 frames apart
    actions[:, 0] = [0, 0, 0, 0, 0, 0, 1, 1, 0, 0]  # the left stick out and back
    stats = measure_play([(actions, 10.0)])
    assert stats.press_hold.count == 2 and stats.press_hold.quantile(0.0) == pytest.approx(0.2)
    assert stats.press_hold.quantile(1.0) == pytest.approx(0.3)
    assert stats.press_gap.count == 1 and stats.press_gap.quantile(0.5) == pytest.approx(0.2)
    # Idle: frames 0, 1, 5 and 9 (nothing pressed, stick centred); only 5 is interior.
    assert stats.idle_frame_share == pytest.approx(0.4)
    assert stats.idle.count == 1 and stats.idle.quantile(0.5) == pytest.approx(0.1)
    assert stats.stick_centred_share == pytest.approx(0.8)
    assert stats.stick_move.quantile(0.5) == pytest.approx(0.2) and stats.stick_rim_share == 1.0
    assert stats.in_use[0] == (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # one window of 1 s, one button in it


def test_play_clips_hold_buttons_as_the_recordings_do(shipped, replayed):
    # Held for more than one frame, as recorded play is, and not a coin flip per frame.
    assert replayed.press_hold.quantile(0.5) > 1.5 / FPS
    assert replayed.press_hold.quantile(0.5) == pytest.approx(shipped.press_hold.quantile(0.5), rel=0.5)
    assert replayed.press_gap.quantile(0.5) == pytest.approx(shipped.press_gap.quantile(0.5), rel=0.5)


def test_play_clips_idle_and_rest_the_sticks_as_the_recordings_do(shipped, replayed):
    assert replayed.idle_frame_share == pytest.approx(shipped.idle_frame_share, abs=0.08)
    assert replayed.stick_centred_share == pytest.approx(shipped.stick_centred_share, abs=0.15)
    # A sweep between centre and rim takes its time out of the rest around it (SWEEP_SECONDS, at most 0.2 s).
    assert replayed.stick_rest.quantile(0.5) == pytest.approx(shipped.stick_rest.quantile(0.5), abs=0.2)
    assert replayed.stick_rest.quantile(0.5) > 1.5 / FPS


def test_sticks_travel_smoothly_instead_of_jumping(shipped):
    rng = np.random.default_rng(1)
    steps = np.concatenate([np.abs(np.diff(play_sequence(shipped, 240, FPS, rng)[:, :4], axis=0)) for _ in range(20)])
    assert steps.max() <= 2.0 / (0.05 * FPS) + 1e-6  # the shortest sweep: rim to rim in 0.05 s
    assert (steps > 0).mean() > 0.1  # and they do move


def test_same_seed_gives_the_same_clip_and_another_seed_another(shipped):
    for kind in CLIP_KINDS:
        first, held = clip_actions(kind, shipped, 96, FPS, np.random.default_rng(5))
        again, held_again = clip_actions(kind, shipped, 96, FPS, np.random.default_rng(5))
        assert np.array_equal(first, again) and held == held_again, kind
    other, _ = clip_actions("play", shipped, 96, FPS, np.random.default_rng(6))
    assert not np.array_equal(clip_actions("play", shipped, 96, FPS, np.random.default_rng(5))[0], other)


def test_held_clip_holds_one_drawn_element_every_frame_and_idle_clip_presses_nothing(shipped):
    drawn = ("south", "east", "left_trigger")
    for seed in range(10):
        actions, held = clip_actions("held", shipped, 48, FPS, np.random.default_rng(seed), drawn)
        assert held in drawn and (actions[:, gamepad.FLAT_NAMES.index(held)] == 1.0).all()
        undrawn = [gamepad.FLAT_NAMES.index(n) for n in PRESS_ELEMENTS if n not in drawn]
        assert not actions[:, undrawn].any()
    idle, held = clip_actions("idle", shipped, 48, FPS, np.random.default_rng(0))
    assert held is None and not idle.any()


def test_unknown_clip_kind_names_the_kinds():
    with pytest.raises(UnknownClipKind, match="kinds are play, held, idle, iid"):
        OverlayEvalConfig(kinds=("play", "mash"))


@pytest.mark.slow
def test_held_and_idle_clips_are_read_and_reported_per_kind():
    """The issue's case: a button held throughout a clip, whose median rest image shows it pressed."""
    config = OverlayEvalConfig(
        styles=("playstation-fill-09",), crfs=(23,), scales=(1.0,), frames=24, kinds=("held", "idle"), seed=2
    )
    held, idle = evaluate_overlays(config)
    assert (held.kind, idle.kind) == ("held", "idle") and held.held is not None
    held_tally = held.elements[held.held]
    assert held_tally.button_hits + held_tally.trigger_hits == 24, format_evaluation([held, idle])
    assert idle.total.button_accuracy == 1.0 and idle.total.trigger_accuracy == 1.0
    report = format_evaluation([held, idle])
    assert "By kind of clip" in report and "held element acc" in report


def test_a_measured_table_round_trips_through_json_and_eval_reads_it(tmp_path, shipped):
    path = tmp_path / "mine.json"
    path.write_text(shipped.to_json())
    assert load_play_statistics(path) == shipped
    config = OverlayEvalConfig(play_stats=str(path))
    assert config.kinds == DEFAULT_KINDS and "iid" not in config.kinds


def test_eval_command_defaults_to_the_real_play_kinds():
    from nitrogen_datasets.overlay import cli as overlay_cli

    params = {param.name: param for param in overlay_cli.overlay.commands["eval"].params}
    assert tuple(params["kinds"].default) == OverlayEvalConfig().kinds == DEFAULT_KINDS
