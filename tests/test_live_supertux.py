"""Live games for real on Linux: SuperTux under our own Xvfb + openbox, driven only through the env.

Skipped (with the reason) unless Xvfb, openbox and SuperTux are installed (Debian: ``apt-get install
xvfb xdotool supertux openbox``) and the ``live`` extra (mss, psutil, python-xlib) is present. One
game is launched into a level (the catalog's way into gameplay) for most of the module, and one more
to its title menu for comparison; the tests run in file order. Set ``NITROGEN_TEST_SNAPSHOTS`` to a
folder to keep the reset frames as PNGs for a look.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.repo import REPO_ROOT

from nitrogen_envs import gamepad
from nitrogen_envs.import_utils import is_available

SUPERTUX = shutil.which("supertux2") or shutil.which("supertux2", path="/usr/games")
MISSING = [
    name
    for name, ok in (
        ("Xvfb", shutil.which("Xvfb")),
        ("openbox", shutil.which("openbox")),
        ("supertux2", SUPERTUX),
        ("mss", is_available("mss")),
        ("psutil", is_available("psutil")),
        ("python-xlib", is_available("Xlib")),
        ("cv2", is_available("cv2")),
    )
    if not ok
]
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="live SuperTux test runs on Linux"),
    pytest.mark.skipif(bool(MISSING), reason=f"live game test needs {MISSING} (apt-get install xvfb openbox supertux)"),
    pytest.mark.display,
    pytest.mark.live,
    pytest.mark.slow,  # starts Xvfb, openbox and SuperTux; 9 s for one test in a full run on 2 shared cores
]
SMALL_WINDOW = ["--window", "--geometry", "640x360", "--renderer", "sdl"]
"""A small window keeps software rendering (and so game time) fast on a busy 2-core machine."""

NOOP = gamepad.noop()
RIGHT = gamepad.make_action(left_stick=(1.0, 0.0))
DOWN = gamepad.make_action(left_stick=(0.0, -1.0))
RUN_RIGHT = gamepad.make_action(["west"], left_stick=(1.0, 0.0))  # west = Ctrl, SuperTux's run button
CONFIRM = gamepad.make_action(["east"])  # Enter in the SuperTux key map
BACK = gamepad.make_action(["start"])  # Escape


@pytest.fixture(scope="module", autouse=True)
def _no_safety_hooks_leak():
    """The envs here send input, so they install process-wide signal and atexit hooks; take them out
    when the module is done (after its module-scoped games are closed, so they stay guarded until then)."""
    yield
    from nitrogen_envs.live.safety import SafetyNet

    SafetyNet.uninstall()


def supertux_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "supertux2" and p.status() != "zombie"]


def pressed(display: str) -> list[int]:
    from nitrogen_envs.live.x11_keyboard import pressed_keycodes

    return pressed_keycodes(display)


def keycode(display: str, key: str) -> int:
    from nitrogen_envs.live.x11_keyboard import XTestKeyboard

    keyboard = XTestKeyboard(display)
    try:
        return keyboard.keycode(key)
    finally:
        keyboard.close()


def run_for(env, action, seconds: float):
    obs = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        obs, *_ = env.step(action)
    return obs


def press(env, action, settle_s: float):
    run_for(env, action, 0.25)
    return run_for(env, NOOP, settle_s)


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference (0-255) between two frames."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def motion(env, action, seconds: float) -> float:
    """How much the picture changes while ``action`` is held for ``seconds``."""
    start = run_for(env, action, 0.1)
    return frame_change(start, run_for(env, action, seconds))


def peak_motion(env, action, seconds: float) -> float:
    """The largest change from the first frame at any step while ``action`` is held.

    Running right in level 1 soon meets the first enemy; if Tux dies, the level restarts at the same spot,
    so a frame taken only at the end can look like the start again. The peak over the whole run cannot.
    """
    start = run_for(env, action, 0.1)
    peak, end = 0.0, time.monotonic() + seconds
    while time.monotonic() < end:
        obs, *_ = env.step(action)
        peak = max(peak, frame_change(start, obs))
    return peak


def mostly_black(frame: np.ndarray) -> bool:
    """Most pixels dark: an unpainted window, a fade, or SuperTux's black level title card."""
    return float((frame.max(axis=-1) < 40).mean()) > 0.5


def looks_like_level_one(frame: np.ndarray) -> bool:
    """Welcome to Antarctica at its start: bright sky above, ice blocks across the bottom.

    The title menu has the same ice but a dark menu box in the middle, where the level has sky.
    (Checked against saved screenshots of both.)
    """
    height, width = frame.shape[:2]
    ice = frame[-height // 5 :].astype(np.int16)
    menu_box = frame[int(0.45 * height) : int(0.7 * height), int(0.42 * width) : int(0.58 * width)]
    return float((ice[..., 2] - ice[..., 0]).mean()) > 25 and float(menu_box.mean()) > 150


def snapshot(frame: np.ndarray, name: str) -> None:
    folder = os.environ.get("NITROGEN_TEST_SNAPSHOTS")
    if folder:
        from PIL import Image

        Path(folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(Path(folder) / f"{name}.png")


@contextlib.contextmanager
def supertux_session(home: Path, **options):
    """SuperTux on its own Xvfb, launched by the env; never leaves a game or an X server running."""
    import gymnasium as gym

    from nitrogen_envs.live import register_live_games
    from nitrogen_envs.live.virtual_display import VirtualDisplay

    register_live_games()
    os.environ["NITROGEN_LIVE_STATE"] = str(home / "live_state.json")
    before = set(supertux_pids())
    display = VirtualDisplay((1600, 900)).start()
    env = None
    try:
        env = gym.make(
            "NitroGen/SuperTux-v0",
            display=display.name,
            launch=[SUPERTUX, *SMALL_WINDOW],
            launch_env={
                "HOME": str(home),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_CONFIG_HOME": str(home / "config"),
                "SDL_AUDIODRIVER": "dummy",
            },
            obs_size=256,
            **options,
        )
        yield env, display
    finally:
        if env is not None:
            env.close()
        display.stop()
        os.environ.pop("NITROGEN_LIVE_STATE", None)
        leftovers = set(supertux_pids()) - before
        for pid in leftovers:  # never leave a game spinning, even when a test failed
            os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"SuperTux processes left running: {leftovers}"
        assert display.xvfb is not None and display.xvfb.poll() is not None, "Xvfb left running"


@pytest.fixture(scope="module")
def title_frame(tmp_path_factory):
    """The first frame ``reset`` returns when the way into gameplay is turned off: the title menu."""
    with supertux_session(tmp_path_factory.mktemp("supertux_title"), start_gameplay=False) as (env, _):
        frame, _ = env.reset()
    snapshot(frame, "title")
    return frame


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """SuperTux launched into its first level by the catalog's start_level and start_keys."""
    home = tmp_path_factory.mktemp("supertux_home")
    with supertux_session(home) as (env, display):
        start = time.monotonic()
        frame, _ = env.reset()
        print(f"launch + reset reached the level in {time.monotonic() - start:.1f} s")
        snapshot(frame, "level")
        yield env, display, home, frame


def test_reset_waits_for_a_rendered_title_menu_without_a_way_in(title_frame):
    from nitrogen_envs.live.capture import is_rendered

    assert is_rendered(title_frame) and not mostly_black(title_frame)
    assert not looks_like_level_one(title_frame)


def test_reset_after_launch_lands_in_a_level(live, title_frame):
    env, _, _, frame = live
    change = frame_change(frame, title_frame)
    print(f"level frame vs title frame: mean change {change:.1f}")
    assert not mostly_black(frame), "reset returned a black frame"
    assert change > 20, f"reset's frame looks like the title menu (mean change {change:.1f})"
    assert looks_like_level_one(frame), "reset's frame is not the first level"
    assert motion(env, NOOP, 1.0) < 1.5, "the level was still fading in or scrolling while idle"


def test_holding_right_scrolls_the_level_but_idling_does_not(live):
    env, display, _, _ = live
    assert pressed(display.name) == [], "a key is still held after NOOP steps"
    idle = motion(env, NOOP, 2.0)
    moving = peak_motion(
        env, RUN_RIGHT, 4.0
    )  # Tux starts at the left edge; the camera follows once he passes the middle
    run_for(env, NOOP, 3.0)  # let a possible death-and-restart finish before the next test
    print(f"frame change: idle {idle:.2f}, running right (peak) {moving:.2f}")
    assert idle < 1.5, f"the picture changed while idle ({idle:.2f})"
    assert moving > max(2.0, 3 * idle), f"running right did not scroll the level ({moving:.2f} vs idle {idle:.2f})"


def test_sync_mode_freezes_the_game_between_steps(live):
    import psutil

    env, _, _, _ = live
    base = env.unwrapped
    base.set_sync(True)
    try:
        obs, *_, info = env.step(RIGHT)
        assert info["sync"]
        assert psutil.Process(base.game.pid).status() == psutil.STATUS_STOPPED
        first = base._grab()
        time.sleep(0.4)
        second = base._grab()
        assert np.array_equal(first, second), "frames changed while the game was suspended"
        changed = sum(not np.array_equal(env.step(RIGHT)[0], obs) for _ in range(3))
        assert changed >= 1, "the game did not advance during sync steps"
    finally:
        env.step(NOOP)
        base.set_sync(False)
    assert psutil.Process(base.game.pid).status() != psutil.STATUS_STOPPED


def test_an_exception_inside_step_releases_every_key(live, monkeypatch):
    env, display, _, _ = live
    base = env.unwrapped
    env.step(RIGHT)
    right = keycode(display.name, "right")
    assert right in pressed(display.name)

    def broken(rect):
        raise RuntimeError("capture exploded")

    monkeypatch.setattr(base._capture, "grab", broken)
    with pytest.raises(RuntimeError, match="capture exploded"):
        env.step(RIGHT)
    assert right not in pressed(display.name)
    monkeypatch.undo()
    env.step(NOOP)


def test_dry_run_captures_but_creates_no_input(live):
    import gymnasium as gym

    _, display, _, _ = live
    dry = gym.make("NitroGen/SuperTux-v0", display=display.name, dry_run=True, obs_size=64)
    try:
        obs, info = dry.reset()
        obs, *_, info = dry.step(RIGHT)
        assert obs.shape == (64, 64, 3) and obs.any()
        assert info["dry_run"] and not info["input_sent"]
        assert dry.unwrapped.controller is None
        assert keycode(display.name, "right") not in pressed(display.name)
    finally:
        dry.close()
    assert supertux_pids(), "closing an env that did not launch the game must leave the game running"


def test_play_live_records_what_the_person_presses(live, tmp_path, monkeypatch):
    """`nitrogen play --live SuperTux --record DIR`: frames captured, the person's keys recorded, the stop key stops.

    The stop key is F9 here: F12 (the default) is also the kill switch of the module's env, which must keep running.
    The person's timeline starts at the first recorded frame, not at the command's start, whose set-up time
    varies with the machine's load (it took over a second on a loaded 2-core machine, so the key was let go
    before anything was recorded).
    """
    import threading

    from click.testing import CliRunner

    from nitrogen_datasets.reader import DemoDataset
    from nitrogen_envs.cli import cli
    from nitrogen_envs.live.human import LiveHumanInput
    from nitrogen_envs.live.x11_keyboard import XTestKeyboard

    _, display, _, _ = live
    person = XTestKeyboard(display.name)  # another X client, like a person at the keyboard
    first_poll = threading.Event()
    poll = LiveHumanInput.poll

    def polled(self):
        first_poll.set()
        return poll(self)

    monkeypatch.setattr(LiveHumanInput, "poll", polled)

    def tap(key: str, down: bool) -> None:
        (person.key_down if down else person.key_up)(key)
        person.flush()

    done = threading.Event()

    def play_along() -> None:
        """Let go of right 1 s into the recording, then tap the stop key at 2 s."""
        if not first_poll.wait(120) or done.wait(1.0):
            return
        tap("right", False)
        if done.wait(1.0):
            return
        tap("f9", True)
        done.wait(0.3)
        tap("f9", False)

    out = tmp_path / "human"
    player = threading.Thread(target=play_along, daemon=True)
    try:
        tap("right", True)
        player.start()
        args = ["play", "--live", "SuperTux", "--record", str(out), "--display", display.name]
        options = ["--obs-size", "64", "--no-controller", "--max-steps", "400", "--stop-key", "f9"]
        result = CliRunner().invoke(cli, [*args, *options])
    finally:
        done.set()
        player.join(5.0)
        for key in ("right", "f9"):
            tap(key, False)
        person.close()
    assert result.exit_code == 0, result.output
    assert "recorded 1 episodes" in result.output
    dataset = DemoDataset(out)
    (episode,) = dataset.episodes
    assert 15 <= episode.length <= 80, f"F9 at 2 s should end a 20 fps recording early, got {episode.length} frames"
    left_x = gamepad.FLAT_NAMES.index("left_x")
    held = [dataset[t]["actions"][0, left_x] for t in range(episode.length)]
    assert held[0] == 1.0 and held[-1] == 0.0, held
    assert held == sorted(held, reverse=True), f"right is held first, then released: {held}"
    assert dataset[0]["frame"].shape == (64, 64, 3) and dataset[0]["frame"].any()
    assert keycode(display.name, "right") not in pressed(display.name)


def test_sigterm_releases_keys_of_a_process_driving_the_game(live):
    env, display, home, _ = live
    script = textwrap.dedent(
        f"""
        import os, signal, gymnasium as gym
        from nitrogen_envs import gamepad
        from nitrogen_envs.live import register_live_games
        register_live_games()
        env = gym.make("NitroGen/SuperTux-v0", display={display.name!r}, kill_switch=None)
        env.reset()
        env.step(gamepad.make_action(left_stick=(1.0, 0.0)))
        print("holding", flush=True)
        signal.pause()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NITROGEN_LIVE_STATE": str(home / "child_state.json")},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        right = keycode(display.name, "right")
        assert right in pressed(display.name)
        child.send_signal(signal.SIGTERM)
        child.wait(20)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGTERM
    assert right not in pressed(display.name)
    env.reset()  # give the focus back to our env's window for the next tests


def test_kill_switch_releases_input_and_refuses_more(live):
    from nitrogen_envs.live.errors import KillSwitchPressed
    from nitrogen_envs.live.x11_keyboard import XTestKeyboard

    env, display, _, _ = live
    env.step(RIGHT)
    right = keycode(display.name, "right")
    assert right in pressed(display.name)
    person = XTestKeyboard(display.name)  # another X client, like a person at the keyboard
    try:
        person.key_down("f12")
        person.flush()
        deadline = time.monotonic() + 2.0
        while right in pressed(display.name) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert right not in pressed(display.name), "the kill switch did not release the held key"
        with pytest.raises(KillSwitchPressed, match="kill switch"):
            env.step(RIGHT)
        assert right not in pressed(display.name)
    finally:
        person.key_up("f12")
        person.flush()
        person.close()


def test_minimized_window_gives_a_clear_error(live):
    import gymnasium as gym

    from nitrogen_envs.live.errors import WindowUnavailable

    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool to minimize the window")
    env, display, _, _ = live
    wid = str(env.unwrapped.window._window.id)
    xdotool_env = {**os.environ, "DISPLAY": display.name}
    dry = gym.make("NitroGen/SuperTux-v0", display=display.name, dry_run=True, obs_size=64)
    try:
        dry.reset()
        subprocess.run(["xdotool", "windowminimize", "--sync", wid], env=xdotool_env, check=True, timeout=10)
        with pytest.raises(WindowUnavailable, match="minimized"):
            dry.step(NOOP)
    finally:
        subprocess.run(["xdotool", "windowactivate", "--sync", wid], env=xdotool_env, check=False, timeout=10)
        dry.close()


def test_close_releases_keys_and_stops_the_launched_game(live):
    import gymnasium as gym

    from nitrogen_envs.live.errors import WindowUnavailable

    env, display, home, _ = live
    pid = env.unwrapped.game.pid
    watcher = gym.make("NitroGen/SuperTux-v0", display=display.name, dry_run=True, obs_size=64)
    watcher.reset()
    env.close()
    assert keycode(display.name, "right") not in pressed(display.name)
    assert pid not in supertux_pids()
    state = Path(home / "live_state.json")
    assert not state.exists() or str(pid) not in state.read_text()
    with pytest.raises(WindowUnavailable, match="closed"):
        watcher.step(NOOP)
    watcher.close()


def test_missing_game_error_says_how_to_start_it(tmp_path):
    import gymnasium as gym

    from nitrogen_envs.live import register_live_games
    from nitrogen_envs.live.errors import GameNotRunning
    from nitrogen_envs.live.virtual_display import VirtualDisplay

    register_live_games()
    with (
        VirtualDisplay((640, 480), window_manager=False) as display,
        pytest.raises(GameNotRunning, match=r"SuperTux is not running.*supertux2 --window.*launch=True"),
    ):
        gym.make("NitroGen/SuperTux-v0", display=display.name)


def test_windows_only_game_on_linux_says_so_and_names_the_proton_route():
    import gymnasium as gym

    from nitrogen_envs.live import register_live_games
    from nitrogen_envs.live.errors import GameNotRunning
    from nitrogen_envs.live.virtual_display import VirtualDisplay

    register_live_games()
    with (
        VirtualDisplay((640, 480), window_manager=False) as display,
        pytest.raises(GameNotRunning, match=r"lists EldenRing for Windows only.*Proton.*X11 backend") as caught,
    ):
        gym.make("NitroGen/EldenRing-v0", display=display.name)
    assert "\n" not in str(caught.value)
