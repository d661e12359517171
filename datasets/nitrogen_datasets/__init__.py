"""NitroGen datasets: the overlay pipeline and demonstration recording (coming next).

Lives one level below ``datasets/`` so it never shadows Hugging Face's ``datasets`` package.
"""

__all__: list[str] = []
