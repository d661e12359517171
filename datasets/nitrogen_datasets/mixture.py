"""A weighted mixture of demonstration datasets with one shared game/task vocabulary.

Concatenating datasets would sample each in proportion to its size; a mixture lets a small, precious
dataset (human play) be seen as often as a large one (random play). :class:`MixtureSampler` draws a
dataset by weight, then a uniform frame inside it, in O(1) memory however large the datasets are.

Example:
    >>> mixture = DemoMixture([DemoDataset("expert"), DemoDataset("random")], weights=[0.8, 0.2])  # doctest: +SKIP
    >>> loader = DataLoader(mixture, batch_size=32, sampler=mixture.sampler(num_samples=10_000, seed=0))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nitrogen_datasets.import_utils import require_package
from nitrogen_datasets.reader import DemoDataset

try:
    import torch
except ImportError:  # re-raised as DependencyNotInstalled naming the pip extra
    require_package("torch")
    raise


class DemoMixture(torch.utils.data.Dataset):
    """Several :class:`DemoDataset` behind one index, with ``game_id``/``task_id`` remapped to shared tables.

    Index ``i`` addresses the datasets concatenated in order; use :meth:`sampler` for weighted sampling.

    Args:
        datasets: the datasets (they may use different action chunk lengths only if you never batch them).
        weights: sampling probability of each dataset (normalized; need not sum to 1).

    Raises:
        ValueError: lengths differ, a weight is negative or all are zero, or a dataset is empty.
    """

    def __init__(self, datasets: Sequence[DemoDataset], weights: Sequence[float] | None = None) -> None:
        if not datasets:
            raise ValueError("a mixture needs at least one dataset")
        weights = [1.0] * len(datasets) if weights is None else [float(w) for w in weights]
        if len(weights) != len(datasets):
            raise ValueError(f"got {len(weights)} weights for {len(datasets)} datasets")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
        for dataset, weight in zip(datasets, weights, strict=True):
            if weight > 0 and len(dataset) == 0:
                raise ValueError(f"dataset {dataset.root} has no frames but weight {weight}")
        self.datasets = list(datasets)
        self.weights = np.asarray(weights, dtype=np.float64) / sum(weights)
        self.game_names: tuple[str, ...] = tuple(sorted({name for d in datasets for name in d.game_names}))
        self.task_names: tuple[str, ...] = tuple(sorted({name for d in datasets for name in d.task_names}))
        self._game_maps = [np.array([self.game_names.index(n) for n in d.game_names], dtype=np.int64) for d in datasets]
        self._task_maps = [np.array([self.task_names.index(n) for n in d.task_names], dtype=np.int64) for d in datasets]
        self._starts = np.concatenate(([0], np.cumsum([len(d) for d in datasets]))).astype(np.int64)

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range for a mixture of {len(self)} frames")
        which = int(np.searchsorted(self._starts, index, side="right")) - 1
        sample = self.datasets[which][index - int(self._starts[which])]
        sample["game_id"] = torch.tensor(self._game_maps[which][int(sample["game_id"])])
        sample["task_id"] = torch.tensor(self._task_maps[which][int(sample["task_id"])])
        sample["dataset_index"] = torch.tensor(which)
        return sample

    def sampler(self, num_samples: int, seed: int = 0) -> MixtureSampler:
        """A sampler drawing ``num_samples`` indices per epoch with the mixture's weights."""
        return MixtureSampler(self._starts, self.weights, num_samples, seed)


class MixtureSampler(torch.utils.data.Sampler):
    """Draw a dataset by weight, then a uniform frame inside it; reproducible per (seed, epoch).

    Args:
        starts: first global index of each dataset, plus the total at the end.
        weights: probability of each dataset (sums to 1).
        num_samples: indices per epoch.
        seed: base seed; epoch ``k`` uses ``(seed, k)``, so successive epochs differ but replay exactly.
    """

    def __init__(self, starts: np.ndarray, weights: np.ndarray, num_samples: int, seed: int = 0) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.starts, self.weights, self.num_samples, self.seed = starts, weights, int(num_samples), int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        which = rng.choice(len(self.weights), size=self.num_samples, p=self.weights)
        sizes = np.diff(self.starts)
        offsets = (rng.random(self.num_samples) * sizes[which]).astype(np.int64)
        yield from (self.starts[which] + offsets).tolist()
