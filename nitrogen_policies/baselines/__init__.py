"""Baselines under the same data budget and evaluation: SB3 PPO from reward, imitation BC, random."""
