"""Baselines under the same data budget and evaluation: SB3 PPO from reward, imitation BC, random."""

LOG_FOLDER = "logs"
"""Where in a baseline's output folder its trainer's statistics go (``progress.csv``), for PPO and BC alike."""
