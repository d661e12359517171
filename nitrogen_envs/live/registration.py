"""Gymnasium registration of the live games: string entry points only, nothing heavy imported."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

LIVE_ENTRY_POINT = "nitrogen_envs.live.env:LiveEnv"
GENERIC_ID = "NitroGen/Live-v0"


def register_live_games(user_catalog: str | os.PathLike[str] | None = None) -> list[str]:
    """Register ``NitroGen/Live-v0`` and one ``NitroGen/<Game>-v0`` per catalog game (idempotent).

    Only reads the TOML catalog (stdlib ``tomllib``) and calls ``gymnasium.register``: mss, psutil and
    OS packages are imported when ``gym.make`` builds an env, so this is safe in the plugin hook.

    Args:
        user_catalog: extra TOML catalog; defaults to ``$NITROGEN_LIVE_CATALOG`` when set.

    Returns:
        The ids registered by this call (already registered ids are skipped).
    """
    from gymnasium.envs.registration import register, registry

    from nitrogen_envs.live.catalog import load_catalog

    added = []
    if GENERIC_ID not in registry:
        register(id=GENERIC_ID, entry_point=LIVE_ENTRY_POINT)
        added.append(GENERIC_ID)
    try:
        specs = load_catalog(user_catalog)
    except Exception as err:  # a broken user catalog must not break `import gymnasium`
        logger.warning("live-game catalog not registered: %s", err)
        return added
    for spec in specs.values():
        if spec.env_id in registry:
            continue
        register(id=spec.env_id, entry_point=LIVE_ENTRY_POINT, kwargs={"game": spec.id})
        added.append(spec.env_id)
    return added
