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
from c3_dense.progress import Pace
from c3_dense.weights import check_room, checkpoint_size, resume_advice


class CheckpointRoomHook(Hook):
    """Before the first iteration: the work_dir's disk must hold one checkpoint (model and
    optimizer state), or the run is refused before it trains."""

    priority = "VERY_HIGH"

    def before_train(self, runner) -> None:
        if is_main_process():
            check_room(runner.work_dir, runner.checkpoint_size(),
                       "free space on that disk or set another --work-dir")


class ProgressHook(Hook):
    """A line in mmengine's own form (``Iter(train) [k/N] eta: h:mm:ss``, the same for val and
    test batches) every ``C3_PROGRESS_SECONDS`` (default 10), besides mmengine's LoggerHook,
    which logs every ``interval`` iterations, on a CPU possibly a minute apart
    (c3_dense.progress). Only the main process speaks."""

    priority = "BELOW_NORMAL"

    def _tell(self, runner, pace: Pace, mode: str, done: int, total: int) -> None:
        if is_main_process() and pace.due() and done < total:
            runner.logger.info(f"Iter({mode}) [{done:>{len(str(total))}}/{total}]  eta: "
                               f"{pace.eta(done)}  (progress, every {pace.seconds:g} s)")
            pace.said()

    def before_train(self, runner) -> None:
        self.train_pace = Pace(runner.max_iters)
        self.train_pace.start(runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._tell(runner, self.train_pace, "train", runner.iter + 1, runner.max_iters)

    def before_val_epoch(self, runner) -> None:
        self.eval_pace = Pace(len(runner.val_dataloader))

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._tell(runner, self.eval_pace, "val", batch_idx + 1, len(runner.val_dataloader))

    def after_val_epoch(self, runner, metrics=None) -> None:
        if hasattr(self, "train_pace"):  # the validation's lines count for the training's too
            self.train_pace.said()

    def before_test_epoch(self, runner) -> None:
        self.eval_pace = Pace(len(runner.test_dataloader))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._tell(runner, self.eval_pace, "test", batch_idx + 1, len(runner.test_dataloader))


class C3Runner(Runner):
    """mmengine's Runner with :class:`CheckpointRoomHook`, :class:`ProgressHook` and
    checkpoints written whole."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_hook(CheckpointRoomHook())
        self.register_hook(ProgressHook())

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
