"""The one exception the tools turn into a one-line error and a non-zero exit."""
import os
import sys
from typing import Callable


class UserInputError(Exception):
    """Bad input from the user (config, data, checkpoint, argument); the message says what is
    wrong and how to fix it."""


def run_cli(fn: Callable[[], object]) -> int:
    """Run a command line's body: 0 on success, one ``error:`` line and 2 on UserInputError."""
    try:
        fn()
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def check_output_dir(path: str, what: str) -> None:
    """An output folder must be a folder we can write (made if missing)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserInputError(f"{what} {path} is a file, not a folder; choose a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{what} {path} cannot be made ({exc.strerror}); choose a "
                             "writable folder") from None
    if not os.access(path, os.W_OK):
        raise UserInputError(f"{what} {path} is not writable; choose a writable folder")
