"""Files written whole or not at all (framework-free): a full disk or Ctrl-C in the middle of a
write leaves the earlier file, or none, under the final name and no temporary file behind,
and a full disk is one error naming the file, the space it takes and the space free."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil

from .errors import RunStopped, UserInputError


def size_text(count: int) -> str:
    return f"{count / 2 ** 20:,.1f} MB"


def free_bytes(path: str) -> int:
    """Free space on the disk holding ``path`` (a file or folder; its nearest existing
    folder is asked)."""
    folder = os.path.abspath(path)
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free


def _no_room(path: str, needed: int, fix: str, stopped: bool, about: bool) -> UserInputError:
    """The one error of a file that does not fit on its disk."""
    kind = RunStopped if stopped else UserInputError
    return kind(f"no room for {path} on its disk: it takes {'about ' if about else ''}"
                f"{size_text(needed)} and {size_text(free_bytes(path))} are free; nothing "
                f"was written under that name - {fix}")


@contextlib.contextmanager
def written_whole(path: str, needed: int, fix: str, stopped: bool = False):
    """Write ``path`` whole or not at all: yields a temporary name beside it
    (``path + ".part"``, which no checkpoint pattern matches) for the caller to write; once
    written it is flushed to the disk and renamed to ``path`` in one step. On any failure,
    Ctrl-C included, the temporary file is removed and ``path`` is untouched; a full disk
    becomes one error naming ``path``, the space it takes (about ``needed`` bytes) and the
    space free, with ``fix`` (:class:`RunStopped` when ``stopped``: a run that ``--resume``
    continues)."""
    part = path + ".part"
    try:
        yield part
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(part)
        if is_disk_full(exc):
            raise _no_room(path, needed, fix, stopped, about=True) from None
        raise


def write_whole(path: str, data: bytes, fix: str, stopped: bool = False) -> None:
    """``data`` written to ``path`` whole or not at all (:func:`written_whole`), and refused
    before anything is written when the disk has not room for it."""
    if free_bytes(path) < len(data):
        raise _no_room(path, len(data), fix, stopped, about=False)
    with written_whole(path, len(data), fix, stopped) as part:
        with open(part, "wb") as f:
            f.write(data)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


