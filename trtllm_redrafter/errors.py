"""User-facing errors.

Every problem caused by bad input (a path, a checkpoint, a setting, a shape) is raised as a
``RedrafterError`` with a message that says what is wrong and what to do. The CLI prints the
message and exits with status 2; it never prints a traceback for these.
"""


class RedrafterError(Exception):
    """A problem with the user's input: printed as one clear message, exit status 2."""
