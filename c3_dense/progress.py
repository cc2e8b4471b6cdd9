"""Progress lines for steps that run long on a CPU: a count, the total and the time left,
printed every ``C3_PROGRESS_SECONDS`` seconds (default 10; 0: at every step). The frameworks
log training by iteration count, which on a CPU can leave a minute without a line; the hooks
of the adapters (``c3_dense.detectron2.engine.ProgressHook``, ``ProgressEvaluator``,
``c3_dense.openmmlab.runner.ProgressHook``) add lines by time besides theirs. Framework-free
(the standard library only)."""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Optional

PROGRESS_SECONDS_ENV = "C3_PROGRESS_SECONDS"
DEFAULT_SECONDS = 10.0


def progress_seconds() -> float:
    """Seconds between progress lines: ``$C3_PROGRESS_SECONDS`` or 10."""
    text = os.environ.get(PROGRESS_SECONDS_ENV, "")
    try:
        value = float(text) if text else DEFAULT_SECONDS
    except ValueError:
        value = -1.0
    if value < 0:
        from c3_dense.errors import UserInputError
        raise UserInputError(f"{PROGRESS_SECONDS_ENV}={text!r} is not a number of seconds >= 0;"
                             f" unset it (default {DEFAULT_SECONDS:g}) or set e.g. 30")
    return value


def clock(seconds: float) -> str:
    """``h:mm:ss``, as the frameworks' own ETAs."""
    seconds = int(round(max(0.0, seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Pace:
    """Counts done of ``total`` since :meth:`start`; :meth:`due` says when a line is due,
    :meth:`eta` the time left at the pace so far."""

    def __init__(self, total: int, seconds: Optional[float] = None):
        self.total = total
        self.seconds = progress_seconds() if seconds is None else seconds
        self.start()

    def start(self, done: int = 0) -> None:
        self.begun = self.last = time.monotonic()
        self.first = done  # counts done before this process began (a resumed run)

    def said(self) -> None:
        """A line was printed now (ours or the framework's)."""
        self.last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.seconds

    def eta(self, done: int) -> str:
        ran = done - self.first
        if ran <= 0:
            return "?"
        return clock((time.monotonic() - self.begun) / ran * (self.total - done))


def counted(items, label: str, total: Optional[int] = None,
            write: Callable[[str], None] = None, seconds: Optional[float] = None):
    """Yield ``items``, printing ``label: k/total, eta h:mm:ss`` when a line is due and at the
    last item (for loops of our own: data generation, pictures)."""
    items = list(items) if total is None else items
    total = len(items) if total is None else total
    write = write or (lambda line: print(line, file=sys.stdout, flush=True))
    pace = Pace(total, seconds)
    for done, item in enumerate(items, 1):
        yield item
        if pace.due() or done == total:
            write(f"{label}: {done}/{total}, eta {pace.eta(done)}")
            pace.said()
