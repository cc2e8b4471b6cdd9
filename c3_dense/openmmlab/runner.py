"""mmengine's Runner as the adapters' tools drive it (:func:`c3_dense.openmmlab.engine.train`):
checkpoints written whole or not at all, and the disk checked for room before training.

mmengine writes a checkpoint straight under its final name: a full disk or Ctrl-C mid-write
leaves a truncated ``iter_N.pth`` behind. :class:`C3Runner` writes it under a temporary name
and renames it once complete (:func:`c3_dense.files.written_whole`); a full disk becomes one
error naming the file, the space it takes and the space free, and ``last_checkpoint`` (which
mmengine's CheckpointHook writes after the checkpoint) keeps naming the last complete one.
"""
from __future__ import annotations

import os

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from c3_dense.files import written_whole
from c3_dense.weights import check_room, checkpoint_size, resume_advice


class CheckpointRoomHook(Hook):
    """Before the first iteration: the work_dir's disk must hold one checkpoint (model and
    optimizer state), or the run is refused before it trains."""

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:
        if is_main_process():
            check_room(runner.work_dir, runner.checkpoint_size(),
                       "free space on that disk or set another --work-dir")


class C3Runner(Runner):
    """mmengine's Runner with :class:`CheckpointRoomHook` and checkpoints written whole."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_hook(CheckpointRoomHook())

    def checkpoint_size(self) -> int:
        """About how many bytes one of this run's checkpoints takes."""
        model = self.model.module if is_model_wrapper(self.model) else self.model
        return checkpoint_size(model, getattr(self.optim_wrapper, "optimizer", None))

    def last_complete_checkpoint(self) -> str:
        """What the work_dir's ``last_checkpoint`` names, or ""."""
        marker = os.path.join(self.work_dir, "last_checkpoint")
        if not os.path.isfile(marker):
            return ""
        with open(marker) as f:
            return f.read().strip()

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        # mmengine's save_checkpoint is master_only: the other processes write nothing.
        if not is_main_process() or "://" in str(out_dir):  # a remote backend: its own ways
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        with written_whole(os.path.join(out_dir, filename), self.checkpoint_size(),
                           resume_advice(self.last_complete_checkpoint()), stopped=True) as part:
            super().save_checkpoint(out_dir, os.path.basename(part), *args, **kwargs)
