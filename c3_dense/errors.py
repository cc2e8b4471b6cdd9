"""The one exception the tools turn into a one-line error and a non-zero exit."""
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
