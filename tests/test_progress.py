"""The shared progress bar: a live bar on a terminal, plain lines with rate and ETA in logs, nothing when quiet."""

import io

from nitrogen_envs.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_refresh_is_one_line_with_the_eta():
    stream = io.StringIO()
    with progress_bar(10, "rendering", unit="frame", stream=stream, mininterval=0) as bar:
        for _ in range(10):
            bar.update(1)
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert lines[0].startswith("rendering:   0%") and lines[-1].startswith("rendering: 100%")
    assert "10/10" in lines[-1] and "<00:00" in lines[-1]  # elapsed<remaining, tqdm's ETA
    assert len(lines) == len(set(lines))  # tqdm's closing redraw of the same state is not repeated


def test_on_a_terminal_the_bar_redraws_in_place():
    stream = _Terminal()
    with progress_bar(3, "x", stream=stream) as bar:
        bar.update(3)
    assert "\r" in stream.getvalue()


def test_quiet_prints_nothing():
    stream = io.StringIO()
    with progress_bar(3, "x", enabled=False, stream=stream) as bar:
        bar.update(3)
    assert stream.getvalue() == ""
