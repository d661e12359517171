"""Live games: drive a real, running game through screen capture and a virtual gamepad or keyboard.

``gym.make("NitroGen/EldenRing-v0")`` (or the generic ``NitroGen/Live-v0`` with ``window=``/
``process=``) gives the same gamepad action space and RGB observations as the embedded games.
Capture, input and process control sit behind small Protocols, one module per OS backend, each
imported only when an env constructs it, so importing this package costs nothing.

Modules: ``catalog`` + ``data/games.toml`` (the games), ``registration`` (gymnasium ids), ``config``
(``LiveConfig``), ``env`` (``LiveEnv``), ``capture`` (mss), ``window`` / ``x11_window`` /
``win32_window`` (find, follow, focus), ``keys`` (key names per OS), ``input`` (key maps, pads,
backend choice), ``x11_keyboard`` / ``win32_input`` / ``uinput_pad`` (OS input), ``process``
(launch, suspend, stop, state file), ``safety`` (release on exit and signals, kill switch),
``cleanup`` + ``cli`` (``nitrogen live cleanup``), ``human`` (what a person presses, for recording
``nitrogen play --live``), ``virtual_display`` (Xvfb + openbox), ``xlib_import`` (the one python-xlib
import), ``errors`` (typed errors).
"""

from __future__ import annotations

from nitrogen_envs.live.registration import register_live_games

__all__ = ["register_live_games"]
