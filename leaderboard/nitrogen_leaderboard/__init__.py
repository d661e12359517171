"""NitroGen leaderboard: protocol, evaluation and submission (coming next).

Lives one level below ``leaderboard/`` so the folder name never shadows an installed package.
"""

__all__: list[str] = []
