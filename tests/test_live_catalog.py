"""The live-game catalog and registration: data only, nothing heavy imported."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest
from fixtures.repo import run_python

from nitrogen_envs import gamepad
from nitrogen_envs.live.capture import is_rendered
from nitrogen_envs.live.catalog import CATALOG_ENV_VAR, StartKey, get_live_game, load_catalog, parse_catalog
from nitrogen_envs.live.config import LiveConfig
from nitrogen_envs.live.errors import CatalogError
from nitrogen_envs.live.keys import KEY_NAMES
from nitrogen_envs.live.window import Rect

CATALOG = load_catalog()
_KEYS = '[games.X]\ntitle = "x"\ninput = "keyboard"\nkeys = [{ key = "enter", inputs = ["east"] }]\n'


def test_catalog_has_at_least_twelve_games_including_linux_native_supertux():
    assert len(CATALOG) >= 12
    for game in (
        "EldenRing",
        "DarkSouls3",
        "Sekiro",
        "HollowKnight",
        "Celeste",
        "Cuphead",
        "Hades",
        "ForzaHorizon5",
        "RocketLeague",
        "SuperMeatBoy",
        "SuperTux",
    ):
        assert game in CATALOG
    assert "linux" in CATALOG["SuperTux"].platforms and CATALOG["SuperTux"].launch


@pytest.mark.parametrize("spec", list(CATALOG.values()), ids=list(CATALOG))
def test_every_catalog_key_map_round_trips_through_the_gamepad(spec):
    table = spec.key_table()
    for index, binding in enumerate(table.bindings):
        assert binding.native in KEY_NAMES
        held = table.to_native(table.to_gamepad([int(i == index) for i in range(len(table.bindings))]))
        assert held[index] == 1, f"{spec.id}: key {binding.native} is not produced by its own gamepad input"
    assert not any(table.to_native(gamepad.noop()))


def test_register_live_games_imports_no_capture_or_process_package():
    result = run_python(
        "import sys, gymnasium as gym\n"
        "from nitrogen_envs.live import register_live_games\n"
        "register_live_games()  # idempotent: import gymnasium already registered them through our plugin\n"
        "ids = [i for i in gym.registry if i.startswith('NitroGen/') and gym.registry[i].entry_point.startswith('nitrogen_envs.live')]\n"
        "assert 'NitroGen/EldenRing-v0' in gym.registry and 'NitroGen/Live-v0' in gym.registry\n"
        "print(len(ids), sorted(m for m in ('mss', 'psutil', 'Xlib', 'vgamepad', 'pydirectinput', 'evdev') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.strip().split(" ", 1)
    assert int(count) >= 13 and loaded == "[]"


def test_user_catalog_adds_and_overrides_games(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[games.MyGame]\ntitle = "My Game"\nprocess = ["mygame"]\nfps = 30\ninput = "keyboard"\n'
        'keys = [{ key = "space", inputs = ["south"] }]\n'
        '[games.SuperTux]\ntitle = "SuperTux"\nfps = 10\ninput = "keyboard"\nkeys = [{ key = "x", inputs = ["south"] }]\n'
    )
    monkeypatch.setenv(CATALOG_ENV_VAR, str(path))
    specs = load_catalog()
    assert specs["MyGame"].fps == 30 and specs["MyGame"].key_table().names == ["space"]
    assert specs["SuperTux"].fps == 10
    assert "EldenRing" in specs
    from nitrogen_envs.live.registration import register_live_games

    assert "NitroGen/MyGame-v0" in register_live_games() or "NitroGen/MyGame-v0" in gym.registry


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[games.X]\ntitle = "x"\ninput = "keyboard"\n', "defines no `keys`"),
        ('[games.X]\ntitle = "x"\nfps = 0\n', "fps=0"),
        ('[games.X]\ntitle = "x"\ncolour = 1\n', "unknown field"),
        ('[games.X]\ntitle = "x"\ninput = "keyboard"\nkeys = [{ key = "hyper" }]\n', "unknown key 'hyper'"),
        (
            '[games.X]\ntitle = "x"\ninput = "keyboard"\nkeys = [{ key = "a", inputs = ["jump"] }]\n',
            "unknown input 'jump'",
        ),
        ("[games.X\n", "not valid TOML"),
        ('[games.X]\ntitle = "x"\nstart_level = "/x.lvl"\n', "no `launch` command"),
        ('[games.X]\ntitle = "x"\nlaunch = ["x"]\nstart_level = 3\n', "`start_level` must be a path"),
        ('[games.X]\ntitle = "x"\nlaunch = ["x"]\nstart_level = [""]\n', "empty path in `start_level`"),
        ('[games.X]\ntitle = "x"\nstart_keys = "enter"\n', "`start_keys` must be a list"),
        (f'{_KEYS}start_keys = [{{ key = "esc" }}]\n', r"start key 'esc' is not in its `keys` map \['enter'\]"),
        (f'{_KEYS}start_keys = [{{ key = "hyper" }}]\n', "unknown key 'hyper'"),
        (f'{_KEYS}start_keys = [{{ key = "enter", wait_s = -1 }}]\n', r"wait_s=-1.0; use 0.0..60.0 s"),
        (f'{_KEYS}start_keys = [{{ key = "enter", hold_s = 0 }}]\n', r"hold_s=0.0; use 0.05..5.0 s"),
        (f'{_KEYS}start_keys = [{{ key = "enter", wait_s = "2" }}]\n', "durations are numbers of seconds"),
        (f'{_KEYS}start_keys = [{{ key = "enter", delay = 2 }}]\n', r"unknown field\(s\) \['delay'\] in start key"),
        (f"{_KEYS}start_keys = [3]\n", "each `start_keys` entry needs a `key`"),
    ],
)
def test_bad_catalog_entries_raise_errors_that_name_the_problem(text, message):
    with pytest.raises(CatalogError, match=message) as caught:
        parse_catalog(text)
    assert "\n" not in str(caught.value)


def test_start_fields_parse_with_defaults_and_a_single_path():
    spec = parse_catalog(
        f'{_KEYS}launch = ["game"]\nstart_level = "~/levels/one.lvl"\n'
        'start_keys = ["enter", { key = "enter", hold_s = 0.5, wait_s = 0 }]\n'
    )["X"]
    assert spec.start_level == ("~/levels/one.lvl",)
    assert spec.start_keys == (StartKey("enter", 0.25, 1.0), StartKey("enter", 0.5, 0.0))
    assert spec.start_key_action("enter")["buttons"][gamepad.BUTTON_NAMES.index("east")] == 1


def test_packaged_supertux_entry_names_a_level_and_the_key_past_its_title_card():
    spec = CATALOG["SuperTux"]
    assert all(path.endswith("levels/world1/welcome_antarctica.stl") for path in spec.start_level)
    assert [step.key for step in spec.start_keys] == ["enter"]


def test_unknown_game_suggests_close_ids():
    with pytest.raises(CatalogError, match=r"Did you mean.*EldenRing"):
        get_live_game("EldenRings")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="input must be"):
        LiveConfig(input="mouse")
    with pytest.raises(ValueError, match="fps must be"):
        LiveConfig(fps=0)
    with pytest.raises(ValueError, match="unknown key"):
        LiveConfig(kill_switch="hyper")
    assert LiveConfig(process="game.exe", launch="game --windowed").launch == ["game", "--windowed"]


def test_generic_live_env_needs_a_window_or_process():
    from nitrogen_envs.live.env import LiveEnv

    with pytest.raises(ValueError, match=r"window=.*process="):
        LiveEnv()


def test_rect_clip_keeps_the_visible_part():
    screen = Rect(0, 0, 1600, 900)
    assert Rect(1500, 800, 200, 200).clip(screen) == Rect(1500, 800, 100, 100)
    assert Rect(2000, 0, 10, 10).clip(screen) is None


def test_launch_env_with_a_fake_window_backend_reports_a_clear_not_running_error():
    from nitrogen_envs.live.env import LiveEnv
    from nitrogen_envs.live.errors import GameNotRunning

    class NoWindows:
        def find(self, title, pid):
            return False

        def close(self):
            pass

    with pytest.raises(GameNotRunning, match=r"Terraria is not running.*steam://rungameid/105600.*launch=True"):
        LiveEnv("Terraria", window_backend=NoWindows(), process="definitely-not-running-xyz")


def test_capture_resize_matches_an_exact_area_average():
    cv2 = pytest.importorskip("cv2")
    from nitrogen_envs.live.capture import fast_resize

    rows, cols = np.mgrid[0:720, 0:1280]
    screen = np.stack([(cols * 7 + rows * 3) % 256, (cols // 3) % 256, (rows // 2) % 256, np.full_like(cols, 255)], -1)
    screen = screen.astype(np.uint8)
    exact = cv2.resize(screen.astype(np.float32), (256, 256), interpolation=cv2.INTER_AREA)
    fast = fast_resize(screen, (256, 256))
    assert fast.shape == (256, 256, 4) and fast.dtype == np.uint8
    assert np.abs(fast - exact).mean() < 1.0
    assert fast_resize(screen[:100, :90], (256, 128)).shape == (256, 128, 4)  # a small window is upscaled
    assert fast_resize(screen[:1001, :777], (63, 65)).shape == (63, 65, 4)


# ---- the env's way into gameplay, with a fake window, capture and keyboard (no display needed) ---------------------

BLACK = np.zeros((8, 8, 3), np.uint8)
SCENE = np.tile(np.arange(0, 256, 32, dtype=np.uint8)[:, None, None], (1, 8, 3))


class FakeWindow:
    """Finds the window of a launched game (never a game already running), in front, at a fixed place."""

    def find(self, title, pid):
        return pid is not None

    def pid(self):
        return None

    def rect(self):
        return Rect(0, 0, 8, 8)

    def screen(self):
        return Rect(0, 0, 100, 100)

    def is_foreground(self):
        return True

    def activate(self):
        return True

    def close(self):
        pass


class Script:
    """What happened, in order: frames grabbed (``"black"``/``"scene"``) and keys sent."""

    def __init__(self, black_frames: int, fade_frames: int = 0) -> None:
        self.black_frames = black_frames
        self.fade_frames = fade_frames
        self.events: list[str] = []

    def capture(self, size, display):
        script = self

        class FakeCapture:
            def grab(self, rect):
                black = script.black_frames > 0
                script.black_frames -= 1
                if not black and script.fade_frames > 0:  # fading in from black: brighter at every grab
                    script.fade_frames -= 1
                    script.events.append("fading")
                    return (SCENE.astype(np.float32) / (2 + script.fade_frames)).astype(np.uint8) + 1
                script.events.append("black" if black else "scene")
                return BLACK if black else SCENE

            def close(self):
                pass

        return FakeCapture()


class RecordingController:
    def __init__(self, script: Script) -> None:
        self.script = script

    def apply(self, action):
        east = int(action["buttons"][gamepad.BUTTON_NAMES.index("east")])
        self.script.events.append(f"east={east}")

    def release_all(self):
        pass

    def enable(self):
        pass

    def disable(self):
        pass

    def emergency_release(self):
        pass

    def close(self):
        pass


@pytest.fixture(autouse=True)
def _no_safety_hooks_leak():
    """A live env that sends input installs process-wide signal and atexit hooks: take them out after each test."""
    yield
    from nitrogen_envs.live.safety import SafetyNet

    SafetyNet.uninstall()


@pytest.fixture
def fake_game(tmp_path, monkeypatch):
    """A catalog game whose "binary" is a sleeping Python, with a start level and one start key."""
    pytest.importorskip("psutil")
    import sys

    level = tmp_path / "one.lvl"
    level.write_text("level")
    catalog = tmp_path / "games.toml"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    catalog.write_text(
        f'{_KEYS}launch = {sleeper!r}\nstart_level = ["/no/such/level.lvl", "{level}"]\n'
        'start_keys = [{ key = "enter", hold_s = 0.05, wait_s = 0 }]\n'.replace("'", '"')
    )
    monkeypatch.setenv("NITROGEN_LIVE_STATE", str(tmp_path / "state.json"))
    script = Script(black_frames=3)
    monkeypatch.setattr("nitrogen_envs.live.env.MssCapture", script.capture)
    monkeypatch.setattr("nitrogen_envs.live.env.SETTLE_INTERVAL_S", 0.01)
    monkeypatch.setattr("nitrogen_envs.live.env.SETTLE_WINDOW_S", 0.05)
    monkeypatch.setattr("nitrogen_envs.live.env.RENDER_POLL_S", 0.01)
    return catalog, level, script


def last_argument(pid: int) -> str:
    """The last argv entry of a just-launched process.

    Popen returns once the child's exec has begun; Linux shows the new argv in /proc only once exec has
    laid it out, so on a loaded machine a read right after launch can find it empty for a moment.
    """
    import psutil

    deadline = time.monotonic() + 5.0
    while not (argv := psutil.Process(pid).cmdline()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return argv[-1]


def make_fake(catalog, script, **options):
    from nitrogen_envs.live.env import LiveEnv

    options = {"launch": True, "kill_switch": None, "obs_size": 8, **options}
    return LiveEnv(
        "X", catalog=str(catalog), window_backend=FakeWindow(), controller=RecordingController(script), **options
    )


def test_rendered_frames_are_told_from_black_flat_and_near_black_ones():
    assert is_rendered(SCENE)
    assert not is_rendered(BLACK)
    assert not is_rendered(np.full((8, 8, 3), 200, np.uint8))  # an unpainted window
    assert not is_rendered(SCENE // 16)  # early in a fade from black
    title_card = np.zeros((100, 100, 3), np.uint8)
    title_card[50, 40:60] = 255  # one line of text on black
    assert is_rendered(title_card)


def test_launch_appends_the_start_level_and_sends_start_keys_after_the_first_rendered_frame(fake_game):
    import psutil

    catalog, level, script = fake_game
    env = make_fake(catalog, script)
    try:
        assert last_argument(env.game.pid) == str(level)
        obs, _ = env.reset()
        assert is_rendered(obs)
        first_key = script.events.index("east=1")
        assert script.events[:4] == ["black", "black", "black", "scene"]
        assert "scene" in script.events[:first_key] and script.events[first_key + 1] == "east=0"
        assert script.events[-1] == "scene"  # the frame returned is taken after the keys
        script.events.clear()
        env.reset()  # later resets continue where the game is: no keys again
        assert script.events == ["scene"]
    finally:
        env.close()
    assert not psutil.pid_exists(env.game.pid) or psutil.Process(env.game.pid).status() == psutil.STATUS_ZOMBIE


def test_the_first_reset_after_a_launch_waits_for_the_fade_in_to_end(fake_game):
    catalog, _, script = fake_game
    script.fade_frames = 12
    env = make_fake(catalog, script, start_gameplay=False)
    try:
        obs, _ = env.reset()
        assert np.array_equal(obs, SCENE)
        assert script.events.count("fading") == 12
    finally:
        env.close()


def test_start_gameplay_false_launches_the_plain_command_and_sends_no_keys(fake_game):

    catalog, _, script = fake_game
    env = make_fake(catalog, script, start_gameplay=False)
    try:
        assert last_argument(env.game.pid) == "import time; time.sleep(60)"
        env.reset()
        assert not any(event.startswith("east") for event in script.events)
    finally:
        env.close()


def test_live_info_starts_like_the_embedded_games_and_counts_the_episode(fake_game):
    from fixtures.games import one_game_per_engine

    catalog, _, script = fake_game
    steps_seen = []

    def reward_fn(previous, obs, info):
        steps_seen.append(info["episode_steps"])
        return 1.5

    env = make_fake(catalog, script, start_gameplay=False, reward_fn=reward_fn, fps=240)
    try:
        env.reset()
        for _ in range(2):
            _, reward, _, _, info = env.step(gamepad.noop())
        assert reward == 1.5 and steps_seen == [0, 1]  # reward_fn sees the counters before its step
        assert (info["game"], info["task"], info["success"]) == ("X", "play", False)
        assert (info["episode_return"], info["episode_steps"]) == (3.0, 2)
        _, info_after_reset = env.reset()
        assert (info_after_reset["episode_return"], info_after_reset["episode_steps"]) == (0.0, 0)
    finally:
        env.close()
    embedded = gym.make(one_game_per_engine()[0].env_id, obs_size=32)
    try:
        embedded.reset(seed=0)
        embedded_info = embedded.step(gamepad.noop())[4]
    finally:
        embedded.close()
    common = ["game", "task", "success", "episode_return", "episode_steps"]
    assert list(info)[:5] == common == list(embedded_info)[:5]


def test_a_missing_start_level_opens_the_title_menu_with_a_warning(fake_game, caplog):

    catalog, level, script = fake_game
    level.unlink()
    with caplog.at_level("WARNING", logger="nitrogen_envs.live.env"):
        env = make_fake(catalog, script)
    try:
        assert last_argument(env.game.pid) == "import time; time.sleep(60)"
        env.reset()
        assert not any(event.startswith("east") for event in script.events)
        assert "none of the catalog's start_level files exist" in caplog.text
    finally:
        env.close()


def test_a_window_that_stays_black_gives_a_one_line_timeout_error(fake_game):
    from nitrogen_envs.live.errors import WindowBlank

    catalog, _, script = fake_game
    script.black_frames = 10**6
    env = make_fake(catalog, script, render_timeout_s=0.2, start_gameplay=False)
    try:
        with pytest.raises(WindowBlank, match=r"black or one-colour frames for 0 s \(render_timeout_s\)") as caught:
            env.reset()
        assert "\n" not in str(caught.value)
    finally:
        env.close()


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="the Windows-only message is for Linux")
def test_windows_only_game_on_linux_says_so_and_points_at_proton():
    from nitrogen_envs.live.env import LiveEnv
    from nitrogen_envs.live.errors import GameNotRunning

    class NoWindows(FakeWindow):
        def find(self, title, pid):
            return False

    pytest.importorskip("psutil")
    with pytest.raises(GameNotRunning, match=r"EldenRing is not running.*for Windows only.*Proton.*X11") as caught:
        LiveEnv("EldenRing", window_backend=NoWindows())
    assert "\n" not in str(caught.value)
    assert "steam steam://rungameid/1245620" in str(caught.value)
