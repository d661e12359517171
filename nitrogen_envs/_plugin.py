"""Gymnasium entry-point hook (group ``gymnasium.envs``): runs on every ``import gymnasium``.

It only registers string entry points; no engine, torch or other NitroGen package is imported.
"""

from __future__ import annotations


def register_envs() -> None:
    """Register all ``NitroGen/*`` ids (idempotent)."""
    from nitrogen_envs.registry import register_all

    register_all()
