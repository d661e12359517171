"""Overlay evaluation clips that play like people: measured statistics, replayed; held and idle clips."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.repo import load_script

from nitrogen_datasets.overlay.action_sequences import (
    CLIP_KINDS,
    DEFAULT_KINDS,
    PRESS_ELEMENTS,
    UnknownClipKind,
    clip_actions,
    play_sequence,
)
from nitrogen_datasets.overlay.eval_report import TARGETS, format_evaluation
from nitrogen_datasets.overlay.evaluate import (
    STYLE_SETS,
    ClipResult,
    OverlayEvalConfig,
    Tally,
    clip_bootstrap,
    evaluate_overlays,
    held_out_axes,
    resolve_styles,
    tally,
)
from nitrogen_datasets.overlay.play_stats import (
    PlayStatistics,
    load_play_statistics,
    measure_play,
)
from nitrogen_datasets.overlay.sprite_styles import SPRITE_SPLIT, SpriteStyle, named_sprite_styles, sprite_style
from nitrogen_datasets.overlay.styles import UnknownStyle, preset_styles
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
    # Answering "nothing pressed" without looking is perfect on the idle clip and wrong on every held frame.
    assert idle.blind.button_accuracy == 1.0 and idle.blind.trigger_accuracy == 1.0
    blind_misses = held.blind.button_total - held.blind.button_hits + held.blind.trigger_total - held.blind.trigger_hits
    assert blind_misses >= 24
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


# ---- which styles eval reads: presets, sprite styles, the held-out sprite split (issue #18 part 3) ----------


def test_no_style_names_are_the_presets_and_held_out_sprites_are_the_split_s_held_out_half():
    assert resolve_styles(()) == resolve_styles(("presets",)) == preset_styles()
    held_out = resolve_styles(("held-out-sprites",))
    assert held_out == named_sprite_styles(held_out=True) and len(held_out) == 26
    assert all(isinstance(style, SpriteStyle) and SPRITE_SPLIT.is_held_out(style) for style in held_out)
    assert {style.family for style in held_out} >= set(SPRITE_SPLIT.held_out_families)
    assert {style.treatment for style in held_out} >= set(SPRITE_SPLIT.held_out_treatments)
    assert len(resolve_styles(("sprites",))) == len(named_sprite_styles()) == 56


def test_style_names_and_sets_mix_in_order_each_style_once():
    styles = resolve_styles(("sprite-gamecube-2", "xbox-color-04", "held-out-sprites", "sprite-xbox-0"))
    names = [style.name for style in styles]
    held_out = [style.name for style in named_sprite_styles(held_out=True) if style.name != "sprite-gamecube-2"]
    assert names == ["sprite-gamecube-2", "xbox-color-04", *held_out, "sprite-xbox-0"]
    assert styles[0] == sprite_style("sprite-gamecube-2")  # any sprite-<family>-<n>, as render takes it


def test_an_unknown_style_or_set_names_the_sets_and_the_closest():
    with pytest.raises(
        UnknownStyle,
        match=r"or a set: presets, sprites, held-out-sprites \(did you mean the set 'held-out-sprites'\?\)",
    ):
        resolve_styles(("held-out-sprite",))
    with pytest.raises(UnknownStyle, match="did you mean 'xbox-color-04'"):
        evaluate_overlays(OverlayEvalConfig(styles=("xbox-colour-04",)))
    with pytest.raises(UnknownStyle, match="use sprite-<family>-<n>, family one of xbox"):
        resolve_styles(("sprite-ps2-1",))


def test_held_out_axes_say_what_training_never_draws():
    assert held_out_axes(sprite_style("sprite-dualshock-6")) == ("family", "treatment")  # neon on a DualShock
    assert held_out_axes(sprite_style("sprite-gamecube-0")) == ("family",)
    assert held_out_axes(sprite_style("sprite-keyboard-7")) == ("treatment",)  # pixel art
    assert held_out_axes(sprite_style("sprite-xbox-0")) == ()
    presets = {style.name: held_out_axes(style) for style in preset_styles()}
    assert presets["keycaps-color-23"] == ("palette",) and presets["xbox-color-04"] == ()
    assert sum(axes == ("palette",) for axes in presets.values()) == 4


def test_a_clip_read_as_nothing_scores_every_reading_wrong_even_where_nothing_was_pressed():
    # What evaluation records for a clip whose overlay was not found: NaN everywhere. Scoring NaN as "not
    # pressed" would credit an unfound clip with every button it never saw pressed.
    truth = np.zeros((5, len(gamepad.FLAT_NAMES)), dtype=np.float32)
    truth[0, SOUTH] = 1.0
    unread = tally(truth, np.full_like(truth, np.nan), range(len(gamepad.FLAT_NAMES)))
    assert unread.button_total == 5 * len(gamepad.BUTTON_NAMES) and unread.button_hits == 0
    assert unread.trigger_total == 5 * len(gamepad.TRIGGERS) and unread.trigger_hits == 0
    assert unread.stick_sse == 4.0 * unread.stick_n
    read = tally(truth, truth.copy(), range(len(gamepad.FLAT_NAMES)))
    assert read.button_hits == read.button_total and read.trigger_hits == read.trigger_total


def _clip(style: str, held_out: tuple[str, ...], buttons: tuple[int, int], triggers: tuple[int, int]) -> ClipResult:
    """A scored clip without rendering: ``buttons``/``triggers`` = (hits, total); sticks read perfectly."""
    total = Tally(*buttons, *triggers, stick_n=4, stick_sse=0.0, stick_sum=0.0, stick_sum_sq=2.0)
    return ClipResult(style, "f", "e", 1.0, held_out, 28, 1.0, 10, "play", total=total)


def test_targets_line_states_the_issue_targets_on_the_held_out_sprite_clips():
    assert (TARGETS.button, TARGETS.trigger, TARGETS.stick_r2) == (0.98, 0.98, 0.90)
    trained = _clip("sprite-xbox-0", (), (50, 100), (50, 100))
    palette = _clip("keycaps-color-23", ("palette",), (50, 100), (50, 100))
    held = _clip("sprite-gamecube-0", ("family",), (99, 100), (97, 100))
    line = format_evaluation([trained, palette, held]).splitlines()[-1]
    assert line.startswith("targets: button >= 0.98 (0.9900, met), trigger >= 0.98 (0.9700, not met)"), line
    assert "stick R2 >= 0.90 (1.0000, met) on held-out sprite styles (1 clip)" in line
    line = format_evaluation([trained, palette]).splitlines()[-1]  # no held-out sprite style: all clips, said so
    assert "button >= 0.98 (0.5000, not met)" in line and "on all 2 clips" in line and "held-out-sprites" in line
    table = format_evaluation([trained, palette, held])
    rows = {line.split()[0]: line for line in table.splitlines() if line.startswith(("sprite-", "keycaps-"))}
    assert rows["sprite-gamecube-0"].split()[4] == "family" and rows["sprite-xbox-0"].split()[4] == "no"


@pytest.mark.slow
def test_eval_command_reads_a_held_out_sprite_style():
    """`nitrogen overlay eval --style sprite-...` used to refuse sprite names: it renders and reads one now."""
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    args = ["overlay", "eval", "--style", "sprite-dualshock-5", "--crf", "23", "--scale", "1", "--frames", "8"]
    result = CliRunner().invoke(cli, [*args, "--kind", "idle", "-q"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("sprite-dualshock-5"))
    assert row.split()[1:5] == ["dualshock/sticker", "invert", "0.61", "family"], row
    assert "on held-out sprite styles (1 clip); real-play clips: idle" in result.output.splitlines()[-1]


def test_styles_command_lists_every_named_sprite_style_and_marks_the_held_out_ones():
    from click.testing import CliRunner

    from nitrogen_envs.cli import cli

    result = CliRunner().invoke(cli, ["overlay", "styles"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert all(style.name in lines for style in preset_styles())
    for style in named_sprite_styles():
        assert ("held out" in lines[style.name]) == SPRITE_SPLIT.is_held_out(style), lines[style.name]
    assert lines["sprite-gamecube-6"].endswith("held out (family+treatment)")
    assert ", ".join(STYLE_SETS) in result.output.splitlines()[-1]


def test_clip_bootstrap_resamples_whole_clips_and_widens_with_a_clip_read_as_nothing():
    same = [_clip("sprite-gamecube-0", ("family",), (95, 100), (90, 100)).total for _ in range(10)]
    intervals = clip_bootstrap(same)
    assert intervals["button"] == pytest.approx((0.95, 0.95)) and intervals["trigger"] == pytest.approx((0.9, 0.9))
    # One clip whose overlay was not found (every reading wrong) among nine read well: the pooled figure moves and
    # the interval spans what resampling clips can give, the pooled value inside it.
    lost = Tally(0, 100, 0, 100, stick_n=4, stick_sse=16.0, stick_sum=0.0, stick_sum_sq=2.0)
    clips = [*same[:9], lost]
    pooled = Tally()
    for clip in clips:
        pooled.add(clip)
    low, high = clip_bootstrap(clips)["button"]
    assert low < pooled.button_accuracy < high and high - low > 0.05
    assert clip_bootstrap(clips) == clip_bootstrap(clips)  # seeded: the same intervals every run
    low, high = clip_bootstrap(clips)["stick_r2"]
    assert low < pooled.stick_r2 < high


def test_eval_tables_give_the_bootstrap_intervals_of_the_clips_the_targets_are_judged_on():
    held = [_clip("sprite-gamecube-0", ("family",), (hits, 100), (97, 100)) for hits in (90, 95, 99)]
    lines = format_evaluation(held).splitlines()
    assert lines[-2].startswith(
        "95% bootstrap intervals over those 3 clips (resampling clips, 2000 draws): button [0.9"
    )
    assert lines[-1].startswith("targets: button >= 0.98 (0.9467, not met)")


def test_each_cell_is_held_to_the_oracle_bound_within_the_target_gap():
    from dataclasses import replace

    def clip(crf: int, scale: float, read: int, bound: int) -> ClipResult:
        """Buttons read ``read`` of 1000 right, the oracle ``bound`` of 1000; triggers equal."""
        held = _clip("sprite-gamecube-0", ("family",), (read, 1000), (99, 100))
        return replace(held, crf=crf, scale=scale, bound=Tally(bound, 1000, 99, 100))

    # Above the bound counts as within, 0.004 below too, 0.03 below (pooled over the cell's clips) does not.
    clips = [clip(23, 1.0, 990, 980), clip(35, 0.5, 930, 990), clip(35, 0.5, 990, 990), clip(35, 2.0, 965, 969)]
    lines = format_evaluation(clips).splitlines()
    assert lines[-2] == "cells within 0.005 of the oracle bound on buttons and triggers: 2 of 3 (not: 35/0.5)"
    rows = {tuple(line.split()[:2]): line.split() for line in lines if line.startswith(("23 ", "35 "))}
    assert rows[("35", "0.5")][-1] == "no" and rows[("23", "1")][-1] == "yes" and rows[("35", "2")][-1] == "yes"
    assert rows[("35", "0.5")][3:5] == ["0.9600", "0.9900"]


def test_localization_is_held_to_the_clips_the_oracle_reads():
    """Issue #18: every clip whose oracle reads >= 0.9 of its buttons is found; a clip it cannot read may be missed.
    A clip missed is named with what the oracle reads beside what answering "nothing pressed" would."""
    from dataclasses import replace

    def clip(bound: int, located: bool, seed: int) -> ClipResult:
        read = 990 if located else 0
        held = _clip("sprite-gamecube-0", ("family",), (read, 1000), (99, 100))
        blind = Tally(980, 1000, 100, 100)
        return replace(
            held, crf=35, scale=0.5, located=located, seed=seed, bound=Tally(bound, 1000, 99, 100), blind=blind
        )

    clips = [clip(990, True, 1), clip(650, False, 2), clip(950, False, 3), clip(900, True, 4)]
    lines = format_evaluation(clips).splitlines()
    # The unreadable clip (0.65) is not held against the localization; the readable one missed is named.
    assert lines[-2] == "clips whose oracle reads >= 0.9 of their buttons, found: 2 of 3"
    assert lines[-1] == (
        "  not found: sprite-gamecube-0 CRF 35 scale 0.5 (play, seed 3) "
        '(the oracle reads 0.9500 of its buttons, answering "nothing pressed" 0.9800)'
    )


def test_paired_bootstrap_tells_two_readers_apart_on_the_same_clips():
    """A reader a little better on every clip: the paired interval lies above 0 though each one's own interval spans
    both; the same reader against itself reads 0 exactly; tallies of different clips are refused."""
    from nitrogen_datasets.overlay.evaluate import paired_bootstrap

    rng = np.random.default_rng(3)
    hard = [int(h) for h in rng.integers(700, 1000, 30)]  # clips of very different difficulty
    theirs = [Tally(h, 1000, 990, 1000) for h in hard]
    ours = [Tally(h + 5, 1000, 990, 1000) for h in hard]
    gains = paired_bootstrap(ours, theirs)
    difference, low, high = gains["button"]
    assert difference == pytest.approx(0.005) and 0 < low <= difference <= high
    own_low, own_high = clip_bootstrap(ours)["button"]
    assert own_high - own_low > 10 * (high - low)  # the clips' spread dwarfs the paired one
    assert paired_bootstrap(theirs, theirs)["trigger"] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same clips"):
        paired_bootstrap(ours, theirs[:-1])


def _sprite_baseline():
    """``benchmarks/overlay_sprite_baseline.py`` as a module (benchmarks are scripts, not a package)."""
    return load_script("benchmarks/overlay_sprite_baseline.py", "overlay_sprite_baseline")


def test_the_held_out_benchmark_pairs_a_run_with_a_saved_one_of_the_same_clips(tmp_path):
    """`--save` then `--against`: the same clips pair (a reader against its own save gains exactly 0); a save of
    other clips, or a file that is not a save, stops with one line naming the fix."""
    from dataclasses import replace

    bench = _sprite_baseline()
    clips = [
        replace(_clip("sprite-gamecube-0", ("family",), (hits, 100), (97, 100)), seed=i)
        for i, hits in enumerate((90, 95, 99))
    ]
    saved = tmp_path / "shipped.json"
    bench.save_clips(clips, saved)
    line, keys = bench.paired_line(clips, saved)
    assert "button +0.0000 [+0.0000, +0.0000]" in line and "button_gain=+0.0000" in keys
    other = [replace(clip, seed=clip.seed + 10) for clip in clips]
    with pytest.raises(SystemExit, match="lacks 3 of these clips"):
        bench.paired_line(other, saved)
    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    with pytest.raises(SystemExit, match="not a --save file"):
        bench.paired_line(clips, broken)


def test_the_held_out_benchmark_renders_at_the_size_asked_and_refuses_a_size_h264_cannot_encode(monkeypatch, capsys):
    """`--size 1280x720` evaluates stream-sized clips (the evaluation config's frame size); an odd side stops with
    one line naming the fix before anything renders."""
    bench = _sprite_baseline()
    asked = []

    def no_run(jobs, job, workers):
        asked.extend(config.frame_size for _, _, _, config, _, _ in jobs)
        raise SystemExit(0)

    monkeypatch.setattr(bench, "run_parallel", no_run)
    monkeypatch.setattr("sys.argv", ["overlay_sprite_baseline.py", "--size", "1280x720", "--styles", "sprite-xbox-6"])
    with pytest.raises(SystemExit):
        bench.main()
    assert asked and set(asked) == {(720, 1280)}
    monkeypatch.setattr("sys.argv", ["overlay_sprite_baseline.py", "--size", "1281x720"])
    with pytest.raises(SystemExit) as stopped:
        bench.main()
    assert stopped.value.code == 2 and "use 1282x720" in capsys.readouterr().err
