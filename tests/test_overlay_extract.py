"""Render -> extract round trip: actions come back from a compressed video; the overlay can be masked."""

import numpy as np
import pytest

pytest.importorskip("cv2")
av = pytest.importorskip("av")
pq = pytest.importorskip("pyarrow.parquet")

from fixtures.overlay_factories import decoded, gameplay, random_actions  # noqa: E402

from nitrogen_datasets.overlay.extract import COLUMNS, extract  # noqa: E402
from nitrogen_datasets.overlay.localize import OverlayNotFound  # noqa: E402
from nitrogen_datasets.overlay.styles import OverlayStyle, preset_styles  # noqa: E402
from nitrogen_datasets.overlay.video import render_overlay_video  # noqa: E402
from nitrogen_envs import gamepad  # noqa: E402


@pytest.mark.parametrize("style", [preset_styles()[i] for i in (1, 6, 13)], ids=lambda s: s.name)
def test_extract_recovers_actions_from_a_compressed_clip(tmp_path, style):
    style = OverlayStyle(**{**style.__dict__, "opacity": 1.0, "scale": 1.25, "position": (0.9, 0.85)})
    truth = random_actions(48, seed=len(style.name))
    clip = render_overlay_video(gameplay(48, size=(360, 640)), truth, style, tmp_path / "clip.mp4", crf=23)
    result = extract(clip.video, clip.layout, tmp_path / "actions.parquet", masked_video=tmp_path / "masked.mp4")
    table = pq.read_table(result.actions)
    assert table.column_names == list(COLUMNS)
    got = np.stack([table.column(name).to_numpy() for name in gamepad.FLAT_NAMES], axis=1)
    assert got.shape == truth.shape
    buttons_ok = (got[:, gamepad.BUTTON_SLICE] >= 0.5) == (truth[:, gamepad.BUTTON_SLICE] >= 0.5)
    assert buttons_ok.mean() >= 0.97, buttons_ok.mean()
    sticks_true, sticks_got = truth[:, gamepad.STICK_SLICE], got[:, gamepad.STICK_SLICE]
    r2 = 1 - ((sticks_true - sticks_got) ** 2).sum() / ((sticks_true - sticks_true.mean(0)) ** 2).sum()
    assert r2 >= 0.9, r2
    triggers_ok = (got[:, gamepad.TRIGGER_SLICE] >= 0.5) == (truth[:, gamepad.TRIGGER_SLICE] >= 0.5)
    assert triggers_ok.mean() >= 0.95
    # The masked video really hides the overlay region.
    where = result.localization
    frames = decoded(tmp_path / "masked.mp4")
    x1, y1 = where.x + int(clip.layout and 100 * where.scale), where.y + int(60 * where.scale)
    assert max(float(f[where.y : y1, where.x : x1].mean()) for f in frames) < 3.0


def test_extract_without_the_overlay_fails_with_the_best_score(tmp_path):
    from nitrogen_datasets.overlay import OverlayRenderer
    from nitrogen_datasets.overlay.layout import save_layout
    from nitrogen_envs.video import VideoWriter

    renderer = OverlayRenderer(preset_styles()[2])
    layout = save_layout(renderer.layout(template_file="rest.png"), renderer.template(), tmp_path / "layout.json")
    with VideoWriter(tmp_path / "plain.mp4") as writer:
        for frame in gameplay(10, seed=4):
            writer.write(frame)
    with pytest.raises(OverlayNotFound, match="best match score"):
        extract(tmp_path / "plain.mp4", layout, tmp_path / "a.parquet")
    assert not (tmp_path / "a.parquet").exists()


def test_extract_command_exits_non_zero_without_an_overlay(tmp_path):
    from click.testing import CliRunner

    from nitrogen_datasets.overlay import OverlayRenderer
    from nitrogen_datasets.overlay.layout import save_layout
    from nitrogen_envs.cli import cli
    from nitrogen_envs.video import VideoWriter

    renderer = OverlayRenderer(preset_styles()[2])
    layout = save_layout(renderer.layout(template_file="rest.png"), renderer.template(), tmp_path / "layout.json")
    with VideoWriter(tmp_path / "plain.mp4") as writer:
        for frame in gameplay(10, seed=4):
            writer.write(frame)
    result = CliRunner().invoke(
        cli,
        [
            "overlay",
            "extract",
            str(tmp_path / "plain.mp4"),
            "--layout",
            str(layout),
            "--out",
            str(tmp_path / "a.parquet"),
        ],
    )
    assert result.exit_code != 0
    assert "best match score" in result.output


def test_background_calls_run_in_order_a_bounded_way_ahead_and_raise_a_failed_calls_error():
    import threading
    import time
    import traceback

    from nitrogen_datasets.overlay.decode import BackgroundCalls

    done: list[int] = []
    most_waiting = 0
    calls = BackgroundCalls("nitrogen-test", depth=3)

    def slow(index: int) -> None:
        time.sleep(0.002)
        done.append(index)

    for index in range(30):
        calls.submit(slow, index)
        most_waiting = max(most_waiting, index + 1 - len(done))
    calls.join()
    assert done == list(range(30))  # one thread, submission order
    assert most_waiting <= 3 + 1  # the bound, plus the call just submitted
    assert not any(t.name.startswith("nitrogen-test") and t.is_alive() for t in threading.enumerate())

    def broken(index: int) -> None:
        if index == 2:
            raise OSError("disk full")

    calls = BackgroundCalls("nitrogen-test", depth=2)
    with pytest.raises(OSError, match="disk full") as raised:  # by a later submit or by join, never lost
        for index in range(50):
            calls.submit(broken, index)
        calls.join()
    assert "broken" in "".join(traceback.format_tb(raised.value.__traceback__))  # the worker's traceback is kept
    calls.cancel()
    assert not any(t.name.startswith("nitrogen-test") and t.is_alive() for t in threading.enumerate())


def test_prefetch_keeps_order_raises_producer_errors_and_stops_on_close():
    import threading

    from nitrogen_datasets.overlay.decode import prefetch

    assert list(prefetch(iter(range(100)), depth=4)) == list(range(100))

    def broken():
        yield 1
        raise OSError("truncated video")

    stream = prefetch(broken())
    assert next(stream) == 1
    with pytest.raises(OSError, match="truncated video"):
        next(stream)

    produced = []

    def endless():
        index = 0
        while True:
            produced.append(index)
            yield index
            index += 1

    stream = prefetch(endless(), depth=2)
    assert next(stream) == 0
    stream.close()
    count = len(produced)
    assert count <= 5  # the bounded queue: at most a few items ahead
    assert not any(t.name == "nitrogen-decode" and t.is_alive() for t in threading.enumerate())
