"""The live-game catalog and registration: data only, nothing heavy imported."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_python

from nitrogen_envs import gamepad
from nitrogen_envs.live.catalog import CATALOG_ENV_VAR, get_live_game, load_catalog, parse_catalog
from nitrogen_envs.live.config import LiveConfig
from nitrogen_envs.live.errors import CatalogError
from nitrogen_envs.live.keys import KEY_NAMES
from nitrogen_envs.live.window import Rect

CATALOG = load_catalog()


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
    ],
)
def test_bad_catalog_entries_raise_errors_that_name_the_problem(text, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog(text)


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

    with pytest.raises(GameNotRunning, match=r"EldenRing is not running.*steam://rungameid/1245620.*launch=True"):
        LiveEnv("EldenRing", window_backend=NoWindows(), process="definitely-not-running-xyz")


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
