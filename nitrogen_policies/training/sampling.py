"""A shuffling sampler that can resume mid-epoch, so an interrupted run continues on the same batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableRandomSampler(Sampler[int]):
    """Endless stream of indices: epoch ``e`` is a permutation drawn from ``seed + e``.

    Starting at ``start`` (a count of indices already consumed) gives exactly the stream an uninterrupted
    run would have produced from there on, which makes training resume to the same loss curve.

    Args:
        size: dataset length.
        seed: base seed of the per-epoch permutations.
        start: indices already consumed (``steps_done * batch_size``).
    """

    def __init__(self, size: int, seed: int = 0, start: int = 0) -> None:
        if size < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.size, self.seed, self.start = size, seed, start

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.size)
        while True:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
            yield from order[offset:]
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:
        """Indices in one epoch (the dataset length), although the stream never ends.

        ``DataLoader`` reads a sampler's length only for ``len(loader)``, never to stop iterating a map-style
        dataset, so this makes ``len(loader)`` the batches per epoch, as with torch's own samplers, and the
        trainer's ``drop_last`` check sees the dataset size. The trainer counts steps, not epochs.
        """
        return self.size
