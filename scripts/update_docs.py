"""Regenerate docs/games.md from the registry and the engines' mapping tables."""

from __future__ import annotations

from pathlib import Path

from nitrogen_envs.docs import games_reference_markdown


def main() -> None:
    """Write docs/games.md."""
    target = Path(__file__).resolve().parents[1] / "docs" / "games.md"
    target.parent.mkdir(exist_ok=True)
    target.write_text(games_reference_markdown())


if __name__ == "__main__":
    main()
