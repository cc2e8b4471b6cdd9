"""The one exception the tools turn into a one-line error and a non-zero exit."""


class UserInputError(Exception):
    """Bad input from the user (config, data, checkpoint, argument); the message says what is
    wrong and how to fix it."""
