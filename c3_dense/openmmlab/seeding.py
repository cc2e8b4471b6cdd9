"""Epoch-based training that ends where it would have ended after a kill and ``--resume``.

mmengine restores weights, optimizer, scheduler and the data order (the sampler shuffles by
seed + epoch) from a checkpoint, but not the random generators that draw the augmentations:
a resumed run starts its next epoch from freshly seeded generators, an uninterrupted run from
wherever the previous epochs left them, and persistent data-loader workers keep their own
streams across epochs. So the two runs crop and flip differently and end elsewhere.

Here every epoch's randomness is a function of (seed, epoch, rank) alone:

* :class:`EpochSeedHook` seeds Python's, numpy's and torch's generators before each training
  epoch (the run's seed comes back from the checkpoint on resume);
* with ``persistent_workers=False`` the workers are started anew each epoch, and PyTorch seeds
  each of them from the main process's (now seeded) generator; :func:`torch_worker_seeds`
  leaves those seeds as they are (mmengine's default worker init would reset every worker to
  the same seed each epoch, repeating the epoch's augmentations).

The mmpretrain runtime base (``configs/mmpretrain/_base_/runtime.py``) and the mmdet configs
turn both on.

Iteration-based training resumes mid-stream: :class:`IterSeedHook` seeds the generators before
every training iteration from (seed, iteration, rank), so what a model draws inside an
iteration (a detector's RPN and RoI samplers) is the same in a resumed run. (mmengine
replays a resumed run's skipped batches through the data pipeline, so random augmentations
in the main process are not replayed exactly; the demo configs have none.)
"""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import FUNCTIONS, HOOKS

from c3_dense.randomness import mixed_seed

@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seeds the random generators before every training epoch from (seed, epoch, rank), so
    that an epoch draws the same augmentations whether the run was resumed or not."""

    priority = "VERY_HIGH"

    def before_train_epoch(self, runner) -> None:
        seed = mixed_seed(runner.seed, runner.epoch, get_rank())
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)


@HOOKS.register_module()
class IterSeedHook(Hook):
    """Seeds the random generators before every training iteration from (seed, iteration,
    rank), so that an iteration samples the same whether the run was resumed or not."""

    priority = "VERY_HIGH"

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        seed = mixed_seed(runner.seed, runner.iter, get_rank())
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)


@FUNCTIONS.register_module()
def torch_worker_seeds(worker_id: int) -> None:
    """Data-loader worker init that keeps PyTorch's own per-worker seeds (base seed drawn from
    the main process's generator + worker id, for Python, numpy and torch)."""
