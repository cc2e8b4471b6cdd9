"""A training data loader whose batches are a function of the iteration, so that a run killed
and resumed sees exactly the batches the uninterrupted run would.

detectron2's TrainingSampler is an infinite shuffled stream that restarts from its beginning
when a job restarts, and the augmentations draw from whatever state the random generators are
in. Here instead:

* :class:`IterationBatchSampler` cuts one seeded stream of shuffled indices (a new permutation
  each epoch, seeded by (seed, epoch)) into batches, grouped by aspect ratio (width > height
  or not) when DATALOADER.ASPECT_RATIO_GROUPING is on, as detectron2 groups them. Batch k of
  that stream is always the same; with N processes, process r takes batches r, r + N, ...; a
  run that starts at iteration i starts at batch i·N.
* :class:`SeededMapDataset` seeds Python's, numpy's and torch's generators for every sample
  from (seed, batch, slot) before the mapper runs, so augmentations (random resize and flip)
  depend only on the sample's place in the stream, in any worker.
* :class:`IterationSeedHook` seeds the generators before every step from (seed, iteration,
  rank), for what the model draws (RPN/ROI sampling).

The iteration to start from is read from detectron2's EventStorage when the loader's iterator
is made (the trainer makes it at its first step, after a resume).
"""
from __future__ import annotations

import copy
import logging
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.utils.data as torchdata
from detectron2.engine import HookBase
from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import get_event_storage

from c3_dense.errors import UserInputError
from c3_dense.randomness import mixed_seed

logger = logging.getLogger("c3_dense")

class IterationBatchSampler(torchdata.Sampler):
    """Yields, for this process, lists of (dataset index, sample seed), batch after batch,
    starting at iteration ``start_iter`` (see the module docstring)."""

    def __init__(self, size: int, batch_size: int, seed: int,
                 aspect_groups: Optional[Sequence[int]] = None, rank: int = 0,
                 world_size: int = 1, start_iter: int = 0):
        if size < 1:
            raise ValueError("the training set is empty")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.groups = None if aspect_groups is None else np.asarray(aspect_groups)
        self.rank, self.world_size, self.start_iter = rank, world_size, start_iter

    def _indices(self) -> Iterator[int]:
        epoch = 0
        while True:
            generator = torch.Generator().manual_seed(mixed_seed(self.seed, epoch))
            yield from torch.randperm(self.size, generator=generator).tolist()
            epoch += 1

    def _global_batches(self) -> Iterator[List[int]]:
        """Consecutive indices of the stream, one bucket per aspect group (a single bucket
        without grouping); a full bucket is the next batch."""
        buckets: dict = {}
        for index in self._indices():
            group = 0 if self.groups is None else int(self.groups[index])
            bucket = buckets.setdefault(group, [])
            bucket.append(index)
            if len(bucket) == self.batch_size:
                yield list(bucket)
                bucket.clear()

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        first = self.start_iter * self.world_size
        for number, batch in enumerate(self._global_batches()):
            if number >= first and number % self.world_size == self.rank:
                yield [(index, mixed_seed(self.seed, number, slot))
                       for slot, index in enumerate(batch)]


class SeededMapDataset(torchdata.Dataset):
    """Dataset dicts mapped by ``mapper`` with the random generators seeded per sample. Takes
    (index, seed) keys. A sample the mapper drops (returns None) is replaced by the next
    index, deterministically."""

    def __init__(self, dataset_dicts: list, mapper):
        self.dicts, self.mapper = dataset_dicts, mapper

    def __len__(self) -> int:
        return len(self.dicts)

    def __getitem__(self, key: Tuple[int, int]):
        index, seed = key
        for attempt in range(len(self.dicts)):
            seed_all_rng(mixed_seed(seed, attempt))
            record = self.dicts[(index + attempt) % len(self.dicts)]
            try:
                data = self.mapper(copy.deepcopy(record))
            except OSError as exc:  # PIL's UnidentifiedImageError, truncated files
                raise UserInputError(f"image {record.get('file_name')} cannot be read ({exc}); "
                                     "replace it or leave it out of the data set") from None
            if data is not None:
                return data
        raise RuntimeError("the mapper dropped every training sample")


def _as_list(batch):
    return batch


def _current_iteration() -> int:
    try:
        return get_event_storage().iter
    except AssertionError:  # no EventStorage: not inside training
        return 0


class ResumableTrainLoader:
    """Iterable of training batches (lists of mapped dicts) that starts at the trainer's
    current iteration whenever an iterator is made."""

    def __init__(self, dataset_dicts: list, mapper, *, total_batch_size: int, seed: int,
                 aspect_ratio_grouping: bool, num_workers: int):
        world_size = comm.get_world_size()
        if total_batch_size < 1 or total_batch_size % world_size:
            raise ValueError(f"SOLVER.IMS_PER_BATCH ({total_batch_size}) must be a positive "
                             f"multiple of the number of processes ({world_size})")
        self.dataset = SeededMapDataset(dataset_dicts, mapper)
        self.batch_size = total_batch_size // world_size
        self.seed, self.num_workers = seed, num_workers
        self.rank, self.world_size = comm.get_rank(), world_size
        self.groups = ([int(d["width"] > d["height"]) for d in dataset_dicts]
                       if aspect_ratio_grouping else None)

    def batch_sampler(self, start_iter: int) -> IterationBatchSampler:
        return IterationBatchSampler(len(self.dataset), self.batch_size, self.seed,
                                     self.groups, self.rank, self.world_size, start_iter)

    def __iter__(self):
        start = _current_iteration()
        if start:
            logger.info("Training data continue at iteration %d (batch %d of the seeded stream)",
                        start, start * self.world_size)
        loader = torchdata.DataLoader(self.dataset, batch_sampler=self.batch_sampler(start),
                                      num_workers=self.num_workers, collate_fn=_as_list)
        return iter(loader)


class IterationSeedHook(HookBase):
    """Seeds Python's, numpy's and torch's generators before every step from (seed, iteration,
    rank): what the model draws does not depend on where a run was restarted."""

    def __init__(self, seed: int):
        self.seed = seed

    def before_step(self):
        seed_all_rng(mixed_seed(self.seed, self.trainer.iter, comm.get_rank()))
